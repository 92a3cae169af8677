from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register("studies", views.StudyViewSet)
router.register("memberships", views.MembershipViewSet)
router.register("cohorts", views.CohortViewSet)
router.register("animals", views.AnimalViewSet)
router.register("treatments", views.TreatmentViewSet)
router.register("administrations", views.AdministrationViewSet)
router.register("body-weights", views.BodyWeightViewSet)
router.register("scan-sessions", views.ScanSessionViewSet)
router.register("audit-events", views.AuditEventViewSet)
router.register("exports", views.StudyExportViewSet)
router.register("scan-plans", views.ScanPlanViewSet)
router.register("flags", views.FlagViewSet)

urlpatterns = router.urls

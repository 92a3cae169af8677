"""URLs of the acquisition API (included under ``/api/v1/``)."""

from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register("instruments", views.InstrumentViewSet)
router.register("scan-protocols", views.ScanProtocolViewSet)
router.register("acquisitions", views.AcquisitionViewSet)
router.register("scans", views.ScanViewSet)
router.register("dose-records", views.DoseRecordViewSet)
router.register("dose-budget", views.DoseBudgetViewSet, basename="dose-budget")

urlpatterns = router.urls

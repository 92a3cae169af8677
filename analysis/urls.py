from django.urls import path
from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register("analysis-jobs", views.AnalysisJobViewSet)
router.register("morphometry-results", views.MorphometryResultViewSet)
router.register("registration-results", views.RegistrationResultViewSet)
router.register("remodelling-results", views.RemodellingResultViewSet)

urlpatterns = [
    path("cohort-statistics/", views.CohortStatisticsView.as_view(), name="cohort-statistics"),
    *router.urls,
]

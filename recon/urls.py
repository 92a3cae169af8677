from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register("reconstructions", views.ReconstructionViewSet)
router.register("volumes", views.VolumeViewSet)
router.register("reconstruction-defaults", views.ReconstructionDefaultsViewSet)

urlpatterns = router.urls

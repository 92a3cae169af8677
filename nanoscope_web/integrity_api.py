"""``/api/v1/integrity-checks/``: the integrity-check runs, read-only, for staff.

A run spans every study, so only staff see it; the problems themselves are
``data-integrity`` flags in each study's ``/api/v1/flags/``.
"""

from __future__ import annotations

from rest_framework import permissions, serializers, viewsets
from rest_framework.routers import DefaultRouter

from .models import IntegrityCheck


class IntegrityCheckSerializer(serializers.ModelSerializer):
    class Meta:
        model = IntegrityCheck
        fields = [
            "id", "started_at", "finished_at", "checked", "intact", "missing", "altered",
            "problems", "raised", "reopened", "resolved",
        ]  # fmt: skip


class IntegrityCheckViewSet(viewsets.ReadOnlyModelViewSet):
    """Runs of the nightly integrity check, newest first, with their counts."""

    queryset = IntegrityCheck.objects.all()
    serializer_class = IntegrityCheckSerializer
    permission_classes = [permissions.IsAdminUser]
    ordering_fields = ["started_at"]
    ordering = ["-started_at", "-id"]


router = DefaultRouter()
router.register("integrity-checks", IntegrityCheckViewSet)
urlpatterns = router.urls

"""REST API of reconstructions and volumes (``/api/v1/``).

Reconstructions and volumes belong to a study and follow the studies rule
(``studies/permissions.py``): another study's answer 404, too weak a role 403.
Investigators start re-runs with new parameters (earlier results are kept) and cancel
them; per-protocol defaults are lab-wide records that staff change.
"""

from __future__ import annotations

from dataclasses import asdict

import django_filters as df
from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from acquisition.models import Scan
from acquisition.views import StaffWritesPermission
from studies.datafiles import absolute
from studies.views import StudyScopedMixin, StudyScopedViewSet
from studies.vocabulary import Role

from . import jobs, serializers
from . import models as m
from .volume_store import read_metadata


class ReconstructionFilter(df.FilterSet):
    study = df.NumberFilter(field_name="scan__session__animal__study")
    animal = df.NumberFilter(field_name="scan__session__animal")
    session = df.NumberFilter(field_name="scan__session")
    site = df.CharFilter(field_name="scan__session__site")
    created_at = df.IsoDateTimeFromToRangeFilter()

    class Meta:
        model = m.Reconstruction
        fields = ["study", "animal", "session", "site", "scan", "state", "backend", "created_at"]


class ReconstructionViewSet(StudyScopedViewSet):
    """Reconstructions of scans: progress, centre used, timings, the volume written."""

    queryset = m.Reconstruction.objects.select_related(
        "scan__session__animal__study", "requested_by", "volume"
    ).prefetch_related("slabs")
    serializer_class = serializers.ReconstructionSerializer
    filterset_class = ReconstructionFilter
    write_role = Role.INVESTIGATOR
    parent_field = "scan"
    parent_model = Scan
    http_method_names = ["get", "post", "head", "options"]
    ordering_fields = ["created_at", "state"]
    ordering = ["-created_at"]

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = jobs.start_reconstruction(
            data["scan"],
            parameters=data.get("parameters", {}),
            n_slabs=data.get("n_slabs", 1),
            user=self.request.user,
        )

    @extend_schema(request=None, responses=serializers.ReconstructionSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Stop a queued or running reconstruction (checked between batches of angles)."""
        rec = self.get_object()
        try:
            with transaction.atomic():
                rec.cancel()
        except ValueError as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        rec.refresh_from_db()
        return Response(self.get_serializer(rec).data)


class VolumeFilter(df.FilterSet):
    study = df.NumberFilter(field_name="session__animal__study")
    animal = df.NumberFilter(field_name="session__animal")
    site = df.CharFilter(field_name="session__site")

    class Meta:
        model = m.Volume
        fields = ["study", "animal", "session", "site", "kind", "units"]


class VolumeViewSet(StudyScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Volumes in the volume store; ``metadata/`` describes levels, labels and provenance."""

    queryset = m.Volume.objects.select_related("session__animal__study", "reconstruction")
    serializer_class = serializers.VolumeSerializer
    filterset_class = VolumeFilter
    ordering_fields = ["created_at"]
    ordering = ["-created_at"]

    @action(detail=True, methods=["get"])
    def metadata(self, request, pk=None):
        """Pyramid levels, voxel sizes, units, calibration, labels and provenance."""
        volume = self.get_object()
        return Response(asdict(read_metadata(absolute(volume.relative_path))))


class ReconstructionDefaultsViewSet(viewsets.ModelViewSet):
    """Per-protocol reconstruction parameters used when a scan lands (staff change them)."""

    queryset = m.ReconstructionDefaults.objects.select_related("protocol")
    serializer_class = serializers.ReconstructionDefaultsSerializer
    permission_classes = [IsAuthenticated, StaffWritesPermission]
    filterset_fields = ["protocol", "enabled"]

"""API representations of reconstructions, their slabs and volumes."""

from __future__ import annotations

from rest_framework import serializers

from acquisition.models import Scan
from studies.serializers import VisibleRelatedField

from . import models as m
from .pipeline import ReconstructionParameters


class ReconstructionSlabSerializer(serializers.ModelSerializer):
    class Meta:
        model = m.ReconstructionSlab
        fields = ["index", "z_start", "z_stop", "state", "worker", "error", "finished_at"]


class ReconstructionSerializer(serializers.ModelSerializer):
    """A reconstruction; POST starts a new one of a scan (earlier ones are kept)."""

    scan = VisibleRelatedField(queryset=Scan.objects.all())
    session = serializers.IntegerField(source="scan.session_id", read_only=True)
    algorithm = serializers.CharField(read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    slabs = ReconstructionSlabSerializer(many=True, read_only=True)

    class Meta:
        model = m.Reconstruction
        fields = [
            "id",
            "scan",
            "session",
            "algorithm",
            "parameters",
            "n_slabs",
            "automatic",
            "state",
            "progress",
            "progress_message",
            "error",
            "axis_offset_px",
            "detector_tilt_deg",
            "centre_source",
            "backend",
            "shape",
            "voxel_size_um",
            "timings",
            "volume",
            "code_version",
            "requested_by",
            "worker",
            "created_at",
            "started_at",
            "finished_at",
            "slabs",
        ]
        read_only_fields = [f for f in fields if f not in ("scan", "parameters", "n_slabs")]

    def validate_parameters(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Expected an object of parameters.")
        try:
            return ReconstructionParameters.from_dict(value).to_dict()
        except (TypeError, ValueError) as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def validate_n_slabs(self, value):
        if not 1 <= value <= 64:
            raise serializers.ValidationError("Between 1 and 64 slabs.")
        return value


class VolumeSerializer(serializers.ModelSerializer):
    reconstruction = serializers.IntegerField(source="reconstruction.id", read_only=True)

    class Meta:
        model = m.Volume
        fields = [
            "id",
            "session",
            "kind",
            "reconstruction",
            "relative_path",
            "sha256",
            "size_bytes",
            "shape",
            "voxel_size_um",
            "units",
            "n_levels",
            "created_at",
        ]
        read_only_fields = fields


class ReconstructionDefaultsSerializer(serializers.ModelSerializer):
    class Meta:
        model = m.ReconstructionDefaults
        fields = ["id", "protocol", "parameters", "n_slabs", "enabled"]

    validate_parameters = ReconstructionSerializer.validate_parameters
    validate_n_slabs = ReconstructionSerializer.validate_n_slabs

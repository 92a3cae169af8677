"""API representations of instruments, protocols, acquisitions, scans and the dose ledger."""

from __future__ import annotations

from rest_framework import serializers

from studies.models import Animal, ScanSession
from studies.serializers import ModelCleanMixin, VisibleRelatedField
from studies.vocabulary import AnatomicalSite

from . import models as m
from .importing import IMPORT_FORMATS


class InstrumentSerializer(ModelCleanMixin, serializers.ModelSerializer):
    class Meta:
        model = m.Instrument
        fields = [
            "id",
            "name",
            "driver",
            "driver_config",
            "status",
            "location",
            "dose_constant_mgy_per_uas",
            "dose_reference_kv",
            "ha_intercept_per_cm",
            "ha_slope_per_cm_per_mgha",
            "notes",
            "created_at",
        ]
        read_only_fields = ["created_at"]


class ScanProtocolSerializer(ModelCleanMixin, serializers.ModelSerializer):
    """A protocol version; an update answers the *new* version (the old one stays)."""

    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = m.ScanProtocol
        fields = [
            "id",
            "instrument",
            "name",
            "version",
            "is_current",
            "previous",
            *m.ScanProtocol.SETTINGS_FIELDS,
            "nominal_dose_mgy",
            "created_by",
            "created_at",
        ]
        read_only_fields = [
            "version",
            "is_current",
            "previous",
            "nominal_dose_mgy",
            "created_by",
            "created_at",
        ]

    def validate(self, attrs):
        if self.instance is not None:
            for fixed in ("instrument", "name"):
                if fixed in attrs and attrs[fixed] != getattr(self.instance, fixed):
                    raise serializers.ValidationError(
                        {fixed: ["A new version keeps the protocol's instrument and name."]}
                    )
        elif m.ScanProtocol.objects.filter(
            instrument=attrs.get("instrument"), name=attrs.get("name")
        ).exists():
            raise serializers.ValidationError(
                {"name": ["This protocol exists on the instrument: edit it for a new version."]}
            )
        return super().validate(attrs)

    def update(self, instance, validated_data):
        changes = {k: v for k, v in validated_data.items() if k in m.ScanProtocol.SETTINGS_FIELDS}
        return instance.new_version(created_by=self.context["request"].user, **changes)


class AcquisitionSerializer(serializers.ModelSerializer):
    session = VisibleRelatedField(queryset=ScanSession.objects.all())
    protocol = serializers.PrimaryKeyRelatedField(
        queryset=m.ScanProtocol.objects.select_related("instrument")
    )
    override_reason = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        help_text="Investigators only: why this scan may exceed the dose budget.",
    )
    study = serializers.IntegerField(source="session.animal.study_id", read_only=True)
    animal = serializers.IntegerField(source="session.animal_id", read_only=True)
    site = serializers.CharField(source="session.site", read_only=True)
    session_state = serializers.CharField(source="session.state", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    dose_override_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    scan = serializers.SerializerMethodField()

    class Meta:
        model = m.AcquisitionJob
        fields = [
            "id",
            "study",
            "session",
            "animal",
            "site",
            "session_state",
            "protocol",
            "instrument",
            "state",
            "progress",
            "progress_message",
            "frames_done",
            "frames_total",
            "projections_done",
            "frame_rate_achieved_hz",
            "pause_requested",
            "cancel_requested",
            "paced",
            "seed",
            "nominal_dose_mgy",
            "override_reason",
            "dose_override_reason",
            "dose_override_by",
            "requeue_of",
            "requeue_reason",
            "requested_by",
            "error",
            "worker",
            "created_at",
            "started_at",
            "heartbeat_at",
            "finished_at",
            "scan",
        ]
        read_only_fields = [
            f
            for f in fields
            if f not in ("session", "protocol", "override_reason", "paced", "seed")
        ]

    def get_scan(self, obj) -> int | None:
        scan = m.Scan.objects.filter(job=obj).values_list("pk", flat=True).first()
        return scan


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class RequeueSerializer(serializers.Serializer):
    reason = serializers.CharField(help_text="Why the scan may run again (audited).")
    override_reason = serializers.CharField(required=False, allow_blank=True, default="")


class ScanSerializer(serializers.ModelSerializer):
    study = serializers.IntegerField(source="session.animal.study_id", read_only=True)
    animal = serializers.IntegerField(source="session.animal_id", read_only=True)
    site = serializers.CharField(source="session.site", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = m.Scan
        fields = [
            "id",
            "study",
            "session",
            "animal",
            "site",
            "job",
            "source",
            "format",
            "relative_path",
            "sha256",
            "size_bytes",
            "n_frames",
            "n_projections",
            "frame_shape",
            "geometry",
            "truth_relative_path",
            "truth_sha256",
            "original_name",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class ScanImportSerializer(serializers.Serializer):
    session = VisibleRelatedField(queryset=ScanSession.objects.all())
    format = serializers.ChoiceField(choices=IMPORT_FORMATS)
    file = serializers.FileField(
        help_text="The HDF5 file, or for 'tiff' a zip of the TIFF stack with geometry.json."
    )
    dose_mgy = serializers.FloatField(
        required=False,
        min_value=0.0,
        help_text="Dose the external scan delivered, if known: booked in the ledger.",
    )
    geometry = serializers.JSONField(
        required=False,
        help_text="For files without it: {sod_um, sdd_um, pixel_um, axis_pixel_position}.",
    )
    override_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text="Import even though dose_mgy exceeds the study's dose budget at the site "
        "(investigators; audited).",
    )

    def validate_geometry(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Give a JSON object.")
        return value


class DoseRecordSerializer(serializers.ModelSerializer):
    study = serializers.IntegerField(source="animal.study_id", read_only=True)
    animal_label = serializers.CharField(source="animal.label", read_only=True)

    class Meta:
        model = m.DoseRecord
        fields = [
            "id",
            "study",
            "animal",
            "animal_label",
            "site",
            "dose_mgy",
            "kind",
            "job",
            "scan",
            "projections_delivered",
            "note",
            "booked_at",
        ]
        read_only_fields = fields


class DoseBudgetSerializer(serializers.Serializer):
    """Cumulative dose and remaining budget of one animal at one site (mGy)."""

    study = serializers.IntegerField()
    animal = serializers.IntegerField()
    animal_label = serializers.CharField()
    site = serializers.ChoiceField(choices=AnatomicalSite.choices)
    delivered_mgy = serializers.FloatField(help_text="Booked in the ledger.")
    pending_mgy = serializers.FloatField(help_text="Scans queued or running.")
    budget_mgy = serializers.FloatField()
    remaining_mgy = serializers.FloatField(help_text="Budget − delivered − pending.")


class DoseBudgetQuerySerializer(serializers.Serializer):
    animal = VisibleRelatedField(queryset=Animal.objects.all(), required=False)
    study = serializers.IntegerField(required=False)

"""API representations of the lab records.

Related fields only accept records the requesting user can see (an invisible id reads
as "does not exist", the same answer as a missing one), and every serializer runs the
model's ``clean()`` so the API answers the same field-by-field errors as the pages.
"""

from __future__ import annotations

import copy

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from . import models as m
from .scheduling import visit_days
from .vocabulary import SessionState


class VisibleRelatedField(serializers.PrimaryKeyRelatedField):
    """A primary-key field limited to the records the requesting user can see."""

    def get_queryset(self):
        request = self.context.get("request")
        queryset = super().get_queryset()
        return queryset.visible_to(request.user) if request else queryset.none()


class ModelCleanMixin:
    """Run ``Model.clean()`` on the would-be instance and report its errors per field."""

    def validate(self, attrs):
        attrs = super().validate(attrs)
        instance = copy.copy(self.instance) if self.instance else self.Meta.model()
        for name, value in attrs.items():
            field = instance._meta.get_field(name)
            if not field.many_to_many:
                setattr(instance, name, value)
        try:
            instance.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        return attrs


@extend_schema_field(OpenApiTypes.INT)
class StudyDayField(serializers.ReadOnlyField):
    """Days since the study start (day 0) of one of the record's date fields."""

    def __init__(self, date_field: str, **kwargs):
        self.date_field = date_field
        kwargs.setdefault("help_text", f"Study day of {date_field} (day 0 = study start).")
        super().__init__(source="*", **kwargs)

    def to_representation(self, value):
        return value.study.study_day(getattr(value, self.date_field))


class StudySerializer(ModelCleanMixin, serializers.ModelSerializer):
    my_role = serializers.SerializerMethodField()

    class Meta:
        model = m.Study
        fields = [
            "id",
            "title",
            "description",
            "ethics_licence",
            "principal_investigator",
            "start_date",
            "status",
            "dose_budget_mgy",
            "weight_loss_warning_pct",
            "weight_loss_endpoint_pct",
            "created_at",
            "my_role",
        ]
        read_only_fields = ["created_at"]

    def get_my_role(self, obj) -> str | None:
        request = self.context.get("request")
        return obj.role_of(request.user) if request else None


class MembershipSerializer(serializers.ModelSerializer):
    study = VisibleRelatedField(queryset=m.Study.objects.all())
    user = serializers.SlugRelatedField(
        slug_field="username", queryset=get_user_model().objects.filter(is_active=True)
    )

    class Meta:
        model = m.Membership
        fields = ["id", "study", "user", "role"]

    def validate(self, attrs):
        attrs = super().validate(attrs)
        instance = self.instance
        if instance and instance.role == "owner" and attrs.get("role", "owner") != "owner":
            others = instance.study.memberships.filter(role="owner").exclude(pk=instance.pk)
            if not others.exists():
                raise serializers.ValidationError({"role": ["A study keeps at least one owner."]})
        return attrs


class CohortSerializer(ModelCleanMixin, serializers.ModelSerializer):
    study = VisibleRelatedField(queryset=m.Study.objects.all())
    n_animals = serializers.IntegerField(read_only=True, source="animals.count")

    class Meta:
        model = m.Cohort
        fields = ["id", "study", "name", "description", "is_control", "planned_n", "n_animals"]


class AnimalSerializer(ModelCleanMixin, serializers.ModelSerializer):
    study = VisibleRelatedField(queryset=m.Study.objects.all())
    cohort = VisibleRelatedField(queryset=m.Cohort.objects.all(), allow_null=True, required=False)
    cohort_name = serializers.CharField(source="cohort.name", read_only=True, default=None)
    end_study_day = StudyDayField("end_date")

    class Meta:
        model = m.Animal
        fields = [
            "id",
            "study",
            "cohort",
            "cohort_name",
            "label",
            "ear_tag",
            "rfid",
            "species",
            "strain",
            "sex",
            "date_of_birth",
            "vendor",
            "genotype",
            "cage",
            "status",
            "end_date",
            "end_study_day",
            "end_reason",
            "notes",
        ]


class TreatmentSerializer(ModelCleanMixin, serializers.ModelSerializer):
    cohort = VisibleRelatedField(queryset=m.Cohort.objects.all())
    study = serializers.IntegerField(source="cohort.study_id", read_only=True)
    schedule_days = serializers.ListField(child=serializers.IntegerField(), read_only=True)

    class Meta:
        model = m.Treatment
        fields = [
            "id",
            "study",
            "cohort",
            "kind",
            "agent",
            "dose",
            "dose_unit",
            "route",
            "vehicle",
            "start_day",
            "interval_days",
            "n_administrations",
            "end_day",
            "schedule_days",
            "notes",
        ]


class AdministrationSerializer(ModelCleanMixin, serializers.ModelSerializer):
    treatment = VisibleRelatedField(queryset=m.Treatment.objects.all())
    animal = VisibleRelatedField(queryset=m.Animal.objects.all())
    study = serializers.IntegerField(source="animal.study_id", read_only=True)
    planned_study_day = StudyDayField("planned_at")
    actual_study_day = StudyDayField("actual_at")
    administered_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    dose_unit = serializers.CharField(source="treatment.dose_unit", read_only=True)

    class Meta:
        model = m.Administration
        fields = [
            "id",
            "study",
            "treatment",
            "animal",
            "planned_at",
            "planned_study_day",
            "actual_at",
            "actual_study_day",
            "dose_given",
            "dose_unit",
            "body_weight_used_g",
            "lot_number",
            "administered_by",
            "notes",
        ]


class BodyWeightSerializer(ModelCleanMixin, serializers.ModelSerializer):
    animal = VisibleRelatedField(queryset=m.Animal.objects.all())
    study = serializers.IntegerField(source="animal.study_id", read_only=True)
    study_day = StudyDayField("measured_on")
    measured_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    percent_change_from_baseline = serializers.SerializerMethodField()

    class Meta:
        model = m.BodyWeight
        fields = [
            "id",
            "study",
            "animal",
            "measured_on",
            "study_day",
            "grams",
            "percent_change_from_baseline",
            "measured_by",
            "notes",
        ]

    def get_percent_change_from_baseline(self, obj) -> float | None:
        baseline = getattr(obj, "baseline_g", None)
        if baseline is None:
            first = obj.animal.weights.order_by("measured_on", "id").first()
            baseline = first.grams if first else None
        return obj.percent_change_from(baseline)


class ScanSessionSerializer(ModelCleanMixin, serializers.ModelSerializer):
    animal = VisibleRelatedField(queryset=m.Animal.objects.all())
    study = serializers.IntegerField(source="animal.study_id", read_only=True)
    animal_label = serializers.CharField(source="animal.label", read_only=True)
    study_day = StudyDayField("planned_at")
    operator = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = m.ScanSession
        fields = [
            "id",
            "study",
            "animal",
            "animal_label",
            "site",
            "planned_at",
            "study_day",
            "state",
            "state_changed_at",
            "operator",
            "notes",
            "created_at",
            "scan_plan",
            "plan_visit",
        ]
        read_only_fields = ["state", "state_changed_at", "created_at", "scan_plan", "plan_visit"]

    def validate_animal(self, animal):
        if self.instance and animal.pk != self.instance.animal_id:
            raise serializers.ValidationError("A scan session cannot move to another animal.")
        return animal


class TransitionSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=SessionState.choices)


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = m.AuditEvent
        fields = [
            "id",
            "study",
            "at",
            "username",
            "action",
            "model",
            "object_id",
            "object_repr",
            "changes",
            "request_id",
            "source",
            "reason",
        ]
        read_only_fields = fields


class StudyExportSerializer(serializers.ModelSerializer):
    study = VisibleRelatedField(queryset=m.Study.objects.all())
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = m.StudyExport
        fields = [
            "id",
            "study",
            "state",
            "progress",
            "progress_message",
            "error",
            "requested_by",
            "created_at",
            "finished_at",
            "sha256",
            "size_bytes",
        ]
        read_only_fields = [f for f in fields if f != "study"]


class AnimalImportSerializer(serializers.Serializer):
    study = VisibleRelatedField(queryset=m.Study.objects.all())
    file = serializers.FileField(help_text="CSV with a header row; columns as in the API.")


class ScanPlanSerializer(ModelCleanMixin, serializers.ModelSerializer):
    study = VisibleRelatedField(queryset=m.Study.objects.all())
    cohort = VisibleRelatedField(queryset=m.Cohort.objects.all(), allow_null=True, required=False)
    animal = VisibleRelatedField(queryset=m.Animal.objects.all(), allow_null=True, required=False)
    visit_days = serializers.SerializerMethodField(help_text="Study days of the plan's scans.")
    n_sessions = serializers.IntegerField(source="sessions.count", read_only=True)

    class Meta:
        model = m.ScanPlan
        fields = [
            "id",
            "study",
            "cohort",
            "animal",
            "site",
            "protocol_name",
            "start_day",
            "interval_days",
            "duration_weeks",
            "window_days",
            "time_of_day",
            "lead_days",
            "active",
            "visit_days",
            "n_sessions",
            "notes",
            "created_at",
        ]
        read_only_fields = ["created_at"]

    def get_visit_days(self, obj) -> list[int]:
        return visit_days(obj.start_day, obj.interval_days, obj.duration_weeks)


class FlagSerializer(serializers.ModelSerializer):
    animal_label = serializers.CharField(source="animal.label", read_only=True, default=None)
    acknowledged_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    is_open = serializers.BooleanField(read_only=True)

    class Meta:
        model = m.Flag
        fields = [
            "id",
            "study",
            "kind",
            "severity",
            "subject",
            "animal",
            "animal_label",
            "administration",
            "scan_session",
            "message",
            "value",
            "raised_at",
            "resolved_at",
            "acknowledged_at",
            "acknowledged_by",
            "acknowledgement_note",
            "is_open",
        ]
        read_only_fields = fields


class AcknowledgeSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="")


class DueSerializer(serializers.Serializer):
    """A study's pending administrations on one day (``GET /studies/<id>/due/``)."""

    date = serializers.DateField()
    study_day = serializers.IntegerField()
    due_today = AdministrationSerializer(many=True)
    overdue = AdministrationSerializer(many=True)

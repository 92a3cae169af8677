"""API representations of analysis jobs and results.

Each result carries the time point it belongs to (study, cohort, animal, site, session,
study day) so a list, or its CSV, stands on its own.  Phantom ground truth appears in a
separate ``simulator_truth`` object, never mixed with the measured values.
"""

from __future__ import annotations

from rest_framework import serializers

from recon.models import Volume
from studies.serializers import VisibleRelatedField

from . import models as m
from .measurement import normalise_parameters

_JOB_WRITABLE = ("kind", "volume", "baseline_volume", "parameters")


class AnalysisJobSerializer(serializers.ModelSerializer):
    """An analysis job; POST starts a new one (earlier results are kept)."""

    volume = VisibleRelatedField(queryset=Volume.objects.filter(kind="reconstruction"))
    baseline_volume = VisibleRelatedField(
        queryset=Volume.objects.filter(kind="reconstruction"), required=False, allow_null=True
    )
    session = serializers.IntegerField(source="volume.session_id", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    results = serializers.SerializerMethodField()

    class Meta:
        model = m.AnalysisJob
        fields = [
            "id",
            "kind",
            "volume",
            "baseline_volume",
            "session",
            "parameters",
            "automatic",
            "state",
            "progress",
            "progress_message",
            "error",
            "timings",
            "code_version",
            "requested_by",
            "worker",
            "created_at",
            "started_at",
            "finished_at",
            "results",
        ]
        read_only_fields = [f for f in fields if f not in _JOB_WRITABLE]

    def get_results(self, job) -> dict[str, int | None]:
        """Ids of the result rows the job wrote (none until it is done)."""
        names = ("morphometry", "registration", "remodelling")
        return {name: getattr(getattr(job, name, None), "pk", None) for name in names}

    def validate_parameters(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Expected an object of parameter sections.")
        return value

    def validate(self, attrs):
        attrs = super().validate(attrs)
        try:
            attrs["parameters"] = normalise_parameters(attrs["kind"], attrs.get("parameters"))
        except ValueError as exc:
            raise serializers.ValidationError({"parameters": [str(exc)]}) from exc
        return attrs


class RerunSerializer(serializers.Serializer):
    """New parameters for a re-run (sections as in the job's ``parameters``)."""

    parameters = serializers.DictField(required=False, default=dict)


def _time_point(source: str) -> type[serializers.Serializer]:
    """Fields placing a result: study, cohort, animal, site and session of ``source``."""
    path = f"{source}.session"

    class TimePoint(serializers.Serializer):
        study = serializers.IntegerField(source=f"{path}.animal.study_id", read_only=True)
        cohort = serializers.CharField(
            source=f"{path}.animal.cohort.name", read_only=True, default=None
        )
        animal = serializers.IntegerField(source=f"{path}.animal_id", read_only=True)
        animal_label = serializers.CharField(source=f"{path}.animal.label", read_only=True)
        site = serializers.CharField(source=f"{path}.site", read_only=True)
        session = serializers.IntegerField(source=f"{source}.session_id", read_only=True)

    return TimePoint


_TIME_POINT = ["study", "cohort", "animal", "animal_label", "site", "session", "study_day"]


class MorphometryResultSerializer(_time_point("volume"), serializers.ModelSerializer):
    simulator_truth = serializers.SerializerMethodField()

    class Meta:
        model = m.MorphometryResult
        fields = [
            "id",
            "job",
            *_TIME_POINT,
            "volume",
            "volume_sha256",
            "label_volume",
            "voxel_size_um",
            "units",
            "threshold",
            "threshold_method",
            "trabecular_voi",
            *m.parameter_labels(m.MorphometryResult),
            "details",
            "simulator_truth",
            "parameters",
            "code_version",
            "created_at",
        ]
        read_only_fields = fields

    def get_simulator_truth(self, result) -> dict | None:
        """The phantom's own BV/TV (simulator ground truth, not a measurement)."""
        if result.truth_bv_tv is None:
            return None
        return {"bv_tv": result.truth_bv_tv, "file": result.truth_relative_path}


class RegistrationResultSerializer(_time_point("followup_volume"), serializers.ModelSerializer):
    baseline_session = serializers.IntegerField(source="baseline_volume.session_id", read_only=True)

    class Meta:
        model = m.RegistrationResult
        fields = [
            "id",
            "job",
            *_TIME_POINT,
            "baseline_session",
            "baseline_volume",
            "followup_volume",
            "baseline_sha256",
            "followup_sha256",
            "transform",
            "metric_value",
            "ncc",
            "overlap_fraction",
            "iterations",
            "stop_condition",
            "parameters",
            "code_version",
            "created_at",
        ]
        read_only_fields = fields


class RemodellingResultSerializer(_time_point("followup_volume"), serializers.ModelSerializer):
    baseline_session = serializers.IntegerField(source="baseline_volume.session_id", read_only=True)
    simulator_truth = serializers.SerializerMethodField()

    class Meta:
        model = m.RemodellingResult
        fields = [
            "id",
            "job",
            *_TIME_POINT,
            "baseline_session",
            "baseline_study_day",
            "baseline_volume",
            "followup_volume",
            "registration",
            "label_volume",
            "interval_days",
            "voxel_size_um",
            "threshold",
            "analysed_region",
            "bv0_mm3",
            "bv1_mm3",
            "fv_mm3",
            "rv_mm3",
            *(
                name
                for name in m.parameter_labels(m.RemodellingResult)
                if name not in ("bv0_mm3", "bv1_mm3", "fv_mm3", "rv_mm3")
            ),
            "simulator_truth",
            "parameters",
            "code_version",
            "created_at",
        ]
        read_only_fields = fields

    def get_simulator_truth(self, result) -> dict | None:
        """The phantom's own BFR/BV and BRR/BV (simulator ground truth, %/day)."""
        if result.truth_bfr_bv_pct_per_day is None and result.truth_brr_bv_pct_per_day is None:
            return None
        return {
            "bfr_bv_pct_per_day": result.truth_bfr_bv_pct_per_day,
            "brr_bv_pct_per_day": result.truth_brr_bv_pct_per_day,
            "file": result.truth_relative_path,
        }


class CohortStatisticsQuerySerializer(serializers.Serializer):
    """Query of the cohort statistics endpoint."""

    study = serializers.IntegerField()
    parameter = serializers.CharField(default="bv_tv")
    site = serializers.CharField(required=False)
    reference = serializers.CharField(
        required=False, help_text="Reference cohort of the mixed model (default: the control)."
    )
    baseline_day = serializers.FloatField(required=False)
    table = serializers.ChoiceField(
        choices=["summary", "change", "anova", "pairwise", "mixed_coefficients", "mixed_fit"],
        required=False,
        help_text="The one table a CSV holds (default summary).",
    )

    def validate_parameter(self, value: str) -> str:
        known = {
            **m.parameter_labels(m.MorphometryResult),
            **m.parameter_labels(m.RemodellingResult),
        }
        if value not in known:
            raise serializers.ValidationError(f"Unknown parameter; one of {sorted(known)}.")
        return value

"""REST API of the analyses (``/api/v1/``): jobs, results, cohort statistics.

Jobs and results belong to a study and follow the studies rule
(``studies/permissions.py``): another study's answer 404, too weak a role 403.
Investigators start analyses and re-run them with new parameters (earlier results are
kept); every list filters by study, cohort, animal, site, session and study day, and
answers CSV with ``?format=csv``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import django_filters as df
import numpy as np
import pandas as pd
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from recon.models import Volume
from studies.models import Study
from studies.views import StudyScopedMixin, StudyScopedViewSet
from studies.vocabulary import Role

from . import cohort_stats, jobs, serializers, series
from . import models as m

# -- filters ------------------------------------------------------------------------------


def _newest_of(model, *group: str):
    """Filter method keeping only the newest result of each group (e.g. each volume)."""

    def method(queryset, name, value):
        if not value:
            return queryset
        newest = model.objects.filter(**{g: OuterRef(g) for g in group})
        newest = newest.order_by("-created_at", "-id").values("pk")[:1]
        return queryset.filter(pk=Subquery(newest))

    return method


def _time_point_filter(
    result_model, volume: str, newest_group: tuple[str, ...]
) -> type[df.FilterSet]:
    """Filters of a result list by where its (follow-up) volume sits in the study."""
    path = f"{volume}__session"

    class TimePointFilter(df.FilterSet):
        study = df.NumberFilter(field_name=f"{path}__animal__study")
        cohort = df.NumberFilter(field_name=f"{path}__animal__cohort")
        animal = df.NumberFilter(field_name=f"{path}__animal")
        site = df.CharFilter(field_name=f"{path}__site")
        session = df.NumberFilter(field_name=f"{path}")
        study_day = df.NumberFilter()
        study_day_range = df.RangeFilter(field_name="study_day")
        created_at = df.IsoDateTimeFromToRangeFilter()
        latest = df.BooleanFilter(
            method=_newest_of(result_model, *newest_group),
            label="Only the newest result of each volume (or pair of volumes).",
        )

        class Meta:
            model = result_model
            fields = ["study", "cohort", "animal", "site", "session", "study_day", "job"]

    return TimePointFilter


MorphometryResultFilter = _time_point_filter(m.MorphometryResult, "volume", ("volume",))
RegistrationResultFilter = _time_point_filter(
    m.RegistrationResult, "followup_volume", ("baseline_volume", "followup_volume")
)
RemodellingResultFilter = _time_point_filter(
    m.RemodellingResult, "followup_volume", ("baseline_volume", "followup_volume")
)


class AnalysisJobFilter(df.FilterSet):
    study = df.NumberFilter(field_name="volume__session__animal__study")
    animal = df.NumberFilter(field_name="volume__session__animal")
    session = df.NumberFilter(field_name="volume__session")
    site = df.CharFilter(field_name="volume__session__site")
    created_at = df.IsoDateTimeFromToRangeFilter()

    class Meta:
        model = m.AnalysisJob
        fields = ["study", "animal", "session", "site", "kind", "state", "volume", "automatic"]


# -- jobs ---------------------------------------------------------------------------------


class AnalysisJobViewSet(StudyScopedViewSet):
    """Analysis jobs: progress, parameters, timings and the results they wrote."""

    queryset = m.AnalysisJob.objects.select_related(
        "volume__session__animal__study",
        "requested_by",
        "morphometry",
        "registration",
        "remodelling",
    )
    serializer_class = serializers.AnalysisJobSerializer
    filterset_class = AnalysisJobFilter
    write_role = Role.INVESTIGATOR
    parent_field = "volume"
    parent_model = Volume
    http_method_names = ["get", "post", "head", "options"]
    ordering_fields = ["created_at", "state", "kind"]
    ordering = ["-created_at"]

    def perform_create(self, serializer):
        data = serializer.validated_data
        try:
            serializer.instance = jobs.start_analysis(
                data["volume"],
                data["kind"],
                baseline_volume=data.get("baseline_volume"),
                parameters=data["parameters"],
                user=self.request.user,
            )
        except ValueError as exc:
            raise ValidationError({"detail": str(exc)}) from exc

    @extend_schema(request=None, responses=serializers.AnalysisJobSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Stop a queued or running analysis (checked between steps)."""
        job = self.get_object()
        try:
            with transaction.atomic():
                job.cancel()
        except ValueError as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        job.refresh_from_db()
        return Response(self.get_serializer(job).data)


# -- results ------------------------------------------------------------------------------


def merged_parameters(stored: dict, changes: dict) -> dict:
    """A result's parameters with ``changes`` applied per section (one level deep)."""
    if not isinstance(changes, dict):
        raise ValidationError({"parameters": ["Expected an object of parameter sections."]})
    merged = {name: dict(values) for name, values in stored.items()}
    for name, values in changes.items():
        if not isinstance(values, dict):
            raise ValidationError({"parameters": [f"parameters.{name} must be an object."]})
        merged.setdefault(name, {}).update(values)
    return merged


class ResultViewSet(StudyScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Read-only results; ``rerun/`` starts a new job with changed parameters."""

    read_role = Role.VIEWER
    write_role = Role.INVESTIGATOR
    ordering_fields = ["created_at", "study_day"]
    ordering = ["-created_at"]

    def _rerun(self, request, start: Callable[[object, dict], m.AnalysisJob]) -> Response:
        """Start ``start(result, parameters)`` with the result's parameters, changed."""
        result = self.get_object()
        form = serializers.RerunSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        parameters = merged_parameters(result.parameters, form.validated_data["parameters"])
        try:
            job = start(result, parameters)
        except ValueError as exc:
            raise ValidationError({"parameters": [str(exc)]}) from exc
        context = self.get_serializer_context()
        data = serializers.AnalysisJobSerializer(job, context=context).data
        return Response(data, status=status.HTTP_202_ACCEPTED)


class MorphometryResultViewSet(ResultViewSet):
    """Static morphometry per volume (trabecular, cortical, density)."""

    queryset = m.MorphometryResult.objects.select_related(
        "volume__session__animal__cohort", "volume__session__animal__study"
    )
    serializer_class = serializers.MorphometryResultSerializer
    filterset_class = MorphometryResultFilter
    ordering_fields = ["created_at", "study_day", *m.parameter_labels(m.MorphometryResult)]

    def _start_rerun(self, result, parameters: dict) -> m.AnalysisJob:
        return jobs.start_analysis(
            result.volume, m.AnalysisKind.MORPHOMETRY, parameters=parameters, user=self.request.user
        )

    @extend_schema(request=serializers.RerunSerializer, responses=serializers.AnalysisJobSerializer)
    @action(detail=True, methods=["post"])
    def rerun(self, request, pk=None):
        """Measure the volume again with these parameters changed (investigators)."""
        return self._rerun(request, self._start_rerun)


class RegistrationResultViewSet(ResultViewSet):
    """Rigid registrations of follow-up volumes onto their baselines (transform, quality)."""

    queryset = m.RegistrationResult.objects.select_related(
        "followup_volume__session__animal__cohort",
        "followup_volume__session__animal__study",
        "baseline_volume",
    )
    serializer_class = serializers.RegistrationResultSerializer
    filterset_class = RegistrationResultFilter


class RemodellingResultViewSet(ResultViewSet):
    """Formed and resorbed bone between consecutive time points, and the dynamic rates."""

    queryset = m.RemodellingResult.objects.select_related(
        "followup_volume__session__animal__cohort",
        "followup_volume__session__animal__study",
        "baseline_volume__session",
    )
    serializer_class = serializers.RemodellingResultSerializer
    filterset_class = RemodellingResultFilter
    ordering_fields = ["created_at", "study_day", *m.parameter_labels(m.RemodellingResult)]

    def _start_rerun(self, result, parameters: dict) -> m.AnalysisJob:
        return jobs.start_analysis(
            result.followup_volume,
            m.AnalysisKind.REMODELLING,
            baseline_volume=result.baseline_volume,
            parameters=parameters,
            user=self.request.user,
        )

    @extend_schema(request=serializers.RerunSerializer, responses=serializers.AnalysisJobSerializer)
    @action(detail=True, methods=["post"])
    def rerun(self, request, pk=None):
        """Register and compare the pair again with these parameters changed (investigators)."""
        return self._rerun(request, self._start_rerun)


# -- cohort statistics --------------------------------------------------------------------


def _records(frame: pd.DataFrame) -> list[dict]:
    """A DataFrame as JSON-ready rows (NaN → null)."""
    clean = frame.astype(object).where(frame.notna(), None)
    return clean.to_dict("records")


def cohort_table(study: Study, user, parameter: str, site: str | None) -> pd.DataFrame:
    """The tidy table of a parameter: newest result per session, animals with a cohort.

    Raises
    ------
    ValidationError
        When results come from several sites and no ``site`` was chosen.
    """
    rows = series.latest_per_session(study, user, parameter, site or None)
    sites = {row["site"] for row in rows}
    if not site and len(sites) > 1:
        raise ValidationError(
            {"site": [f"Results come from several sites; choose one of {sorted(sites)}."]}
        )
    table = [
        {
            "animal": row["animal"],
            "cohort": row["cohort"],
            "day": row["day"],
            "value": np.nan if row["value"] is None else row["value"],
            "parameter": parameter,
        }
        for row in rows
    ]
    try:
        return cohort_stats.tidy_table(table) if table else pd.DataFrame()
    except ValueError as exc:
        raise ValidationError({"detail": [str(exc)]}) from exc


class CohortStatisticsView(APIView):
    """Per cohort and study day: n, mean, SD, SEM of one parameter, change from baseline,
    ANOVA and pairwise Welch tests with Holm correction and Hedges' g per day, and a
    linear mixed model over time (cohort × day, animal as random intercept).

    JSON holds every table; ``?format=csv`` one of them (``table=``, default summary).
    """

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[serializers.CohortStatisticsQuerySerializer],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        query = serializers.CohortStatisticsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        study = Study.objects.visible_to(request.user).filter(pk=q["study"]).first()
        if study is None:
            raise Http404("No such study.")
        table = cohort_table(study, request.user, q["parameter"], q.get("site"))
        tables = self._tables(study, table, q)
        if request.accepted_renderer.format == "csv":
            return Response(tables[q.get("table", "summary")])
        labels = {
            **m.parameter_labels(m.MorphometryResult),
            **m.parameter_labels(m.RemodellingResult),
        }
        return Response(
            {
                "study": study.pk,
                "parameter": q["parameter"],
                "label": labels[q["parameter"]],
                "site": q.get("site"),
                "n_measurements": int(len(table)),
                **tables,
            }
        )

    def _tables(self, study: Study, table: pd.DataFrame, q: dict) -> dict[str, list[dict]]:
        names = ["summary", "change", "anova", "pairwise", "mixed_coefficients", "mixed_fit"]
        if table.empty:
            return {name: [] for name in names}
        change = cohort_stats.change_from_baseline(table, q.get("baseline_day"))
        change_summary = pd.concat(
            [
                cohort_stats.summarise(change, value=measure).assign(measure=measure)
                for measure in ("change", "change_pct")
            ],
            ignore_index=True,
        )
        reference = q.get("reference")
        if reference is None:
            controls = set(study.cohorts.filter(is_control=True).values_list("name", flat=True))
            present = sorted(controls & set(table["cohort"]))
            reference = present[0] if present else None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # convergence chatter; the fit table says it
                mixed = cohort_stats.mixed_model(table, reference=reference)
        except ValueError as exc:
            raise ValidationError({"reference": [str(exc)]}) from exc
        return {
            "summary": _records(cohort_stats.summarise(table)),
            "change": _records(change_summary),
            "anova": _records(cohort_stats.anova_by_time(table)),
            "pairwise": _records(cohort_stats.pairwise_by_time(table)),
            "mixed_coefficients": _records(mixed.coefficients),
            "mixed_fit": _records(mixed.fit),
        }

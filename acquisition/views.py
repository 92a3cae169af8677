"""REST API of instruments, protocols, acquisitions, scans and the dose ledger (``/api/v1/``).

Instruments and protocols are lab-wide: every signed-in user reads them, staff change
them.  Acquisitions, scans and dose records belong to a study and follow the studies
rule (``studies/permissions.py``): another study's objects answer 404, too weak a role
403.  Operators start, pause, resume, abort and re-queue scans and import external
ones; overriding the dose budget needs an investigator.
"""

from __future__ import annotations

import django_filters as df
from django.db import transaction
from django.db.models import Sum
from django.http import FileResponse, Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.response import Response

from studies.datafiles import absolute
from studies.models import Animal, ScanSession
from studies.permissions import StudyRolePermission, can
from studies.views import StudyScopedMixin, StudyScopedViewSet
from studies.vocabulary import AnatomicalSite, Role

from . import jobs, serializers
from . import models as m
from .formats import ScanFormatError
from .importing import ImportOverBudget, ImportRefused, import_scan
from .tasks import run_acquisition


class StaffWritesPermission(BasePermission):
    """Lab-wide records: any signed-in user reads, staff (or superusers) write."""

    message = "Only staff change instruments and protocols."

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return bool(request.user.is_staff or request.user.is_superuser)


class InstrumentViewSet(viewsets.ModelViewSet):
    queryset = m.Instrument.objects.all()
    serializer_class = serializers.InstrumentSerializer
    permission_classes = [IsAuthenticated, StaffWritesPermission]
    filterset_fields = ["status", "driver"]
    ordering_fields = ["name", "status"]
    search_fields = ["name", "location"]

    def destroy(self, request, *args, **kwargs):
        instrument = self.get_object()
        if instrument.protocols.exists() or instrument.jobs.exists():
            return Response(
                {
                    "detail": "Protocols or acquisitions refer to this instrument; retire it instead."
                },
                status=status.HTTP_409_CONFLICT,
            )
        return super().destroy(request, *args, **kwargs)

    @extend_schema(responses={200: OpenApiResponse(description="Driver state and interlocks.")})
    @action(detail=True, methods=["get"], url_path="driver-status")
    def driver_status(self, request, pk=None):
        """The driver's live state and interlocks (source, door, detector temperature)."""
        instrument = self.get_object()
        driver_status = instrument.make_driver().status()
        interlocks = driver_status.interlocks
        return Response(
            {
                "state": str(driver_status.state),
                "message": driver_status.message,
                "interlocks": {
                    "ok": interlocks.ok,
                    "source_on": interlocks.source_on,
                    "door_closed": interlocks.door_closed,
                    "detector_temperature_c": interlocks.detector_temperature_c,
                    "problems": interlocks.problems(),
                },
            }
        )


class ScanProtocolViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """Protocol versions.  PUT/PATCH stores a *new* version and answers it (201)."""

    queryset = m.ScanProtocol.objects.select_related("instrument", "created_by")
    serializer_class = serializers.ScanProtocolSerializer
    permission_classes = [IsAuthenticated, StaffWritesPermission]
    filterset_fields = ["instrument", "name", "site", "is_current"]
    ordering_fields = ["name", "version", "created_at"]
    search_fields = ["name", "notes"]

    def perform_create(self, serializer):
        serializer.save(created_by=self.request.user)

    def update(self, request, *args, **kwargs):
        response = super().update(request, *args, **kwargs)
        response.status_code = status.HTTP_201_CREATED
        return response


class AcquisitionFilter(df.FilterSet):
    study = df.NumberFilter(field_name="session__animal__study")
    animal = df.NumberFilter(field_name="session__animal")
    created_at = df.IsoDateTimeFromToRangeFilter()

    class Meta:
        model = m.AcquisitionJob
        fields = ["study", "animal", "session", "instrument", "protocol", "state", "created_at"]


def _reason(request, data) -> str:
    return (data.get("reason") or request.headers.get("X-Audit-Reason", "")).strip()


def _refused(exc: jobs.AcquisitionRefused) -> ValidationError:
    return ValidationError({exc.field: [str(exc)]})


def _override_reason(user, study, data) -> str:
    """The request's dose budget override reason (stripped); only an investigator gives one."""
    override = data.get("override_reason", "").strip()
    if override and not can(user, study, Role.INVESTIGATOR):
        raise PermissionDenied("Only an investigator may override the dose budget.")
    return override


class AcquisitionViewSet(StudyScopedViewSet):
    """Acquisition jobs: start a scan of a session, watch it, pause, resume, abort it."""

    queryset = m.AcquisitionJob.objects.select_related(
        "session__animal__study", "protocol", "instrument", "requested_by", "dose_override_by"
    )
    serializer_class = serializers.AcquisitionSerializer
    filterset_class = AcquisitionFilter
    write_role = Role.OPERATOR
    parent_field = "session"
    parent_model = ScanSession
    http_method_names = ["get", "post", "head", "options"]
    ordering_fields = ["created_at", "state"]
    ordering = ["-created_at"]

    def perform_create(self, serializer):
        data = serializer.validated_data
        session = data["session"]
        override = _override_reason(self.request.user, session.study, data)
        try:
            job = jobs.request_acquisition(
                session,
                data["protocol"],
                user=self.request.user,
                paced=data.get("paced", True),
                seed=data.get("seed"),
                override_reason=override,
            )
        except jobs.AcquisitionRefused as exc:
            raise _refused(exc) from exc
        serializer.instance = job
        transaction.on_commit(lambda: run_acquisition.delay(job.pk))

    def _control(self, request, operation) -> Response:
        job = self.get_object()
        form = serializers.ReasonSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            operation(job, user=request.user, reason=_reason(request, form.validated_data))
        except jobs.AcquisitionRefused as exc:
            raise _refused(exc) from exc
        job.refresh_from_db()
        return Response(self.get_serializer(job).data)

    @extend_schema(
        request=serializers.ReasonSerializer, responses=serializers.AcquisitionSerializer
    )
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        """Pause the running scan after its current frame."""
        return self._control(request, jobs.pause)

    @extend_schema(
        request=serializers.ReasonSerializer, responses=serializers.AcquisitionSerializer
    )
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Resume a paused scan."""
        return self._control(request, jobs.resume)

    @extend_schema(
        request=serializers.ReasonSerializer, responses=serializers.AcquisitionSerializer
    )
    @action(detail=True, methods=["post"])
    def abort(self, request, pk=None):
        """Abort the scan: the partial file is discarded, the dose taken is booked."""
        return self._control(request, jobs.abort)

    @extend_schema(
        request=serializers.RequeueSerializer, responses={201: serializers.AcquisitionSerializer}
    )
    @action(detail=True, methods=["post"])
    def requeue(self, request, pk=None):
        """Queue an interrupted or failed scan again, as a new job, with a reason (audited)."""
        job = self.get_object()
        data = dict(request.data.items())
        data.setdefault("reason", request.headers.get("X-Audit-Reason", ""))
        form = serializers.RequeueSerializer(data=data)
        form.is_valid(raise_exception=True)
        override = _override_reason(request.user, job.study, form.validated_data)
        try:
            new_job = jobs.requeue(
                job,
                user=request.user,
                reason=form.validated_data["reason"],
                override_reason=override,
            )
        except jobs.AcquisitionRefused as exc:
            raise _refused(exc) from exc
        transaction.on_commit(lambda: run_acquisition.delay(new_job.pk))
        return Response(self.get_serializer(new_job).data, status=status.HTTP_201_CREATED)


class ScanFilter(df.FilterSet):
    study = df.NumberFilter(field_name="session__animal__study")
    animal = df.NumberFilter(field_name="session__animal")

    class Meta:
        model = m.Scan
        fields = ["study", "animal", "session", "source", "format"]


class ScanViewSet(StudyScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Raw scans (acquired or imported); ``import/`` takes external files."""

    queryset = m.Scan.objects.select_related("session__animal__study", "created_by")
    serializer_class = serializers.ScanSerializer
    filterset_class = ScanFilter
    write_role = Role.OPERATOR
    ordering_fields = ["created_at"]
    ordering = ["-created_at"]

    @extend_schema(
        request={"multipart/form-data": serializers.ScanImportSerializer},
        responses={
            201: serializers.ScanSerializer,
            400: OpenApiResponse(
                description="The file is not a usable scan, or its dose_mgy exceeds the "
                "study's dose budget without an override; nothing was kept."
            ),
        },
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[MultiPartParser, FormParser],
    )
    def import_file(self, request):
        """Import an external scan (NXtomo, DXchange, or a zip of TIFFs + geometry.json)."""
        raw = request.data.get("session")
        if raw and str(raw).isdigit():
            session = ScanSession.objects.visible_to(request.user).filter(pk=raw).first()
            if session is not None and not can(request.user, session.study, Role.OPERATOR):
                raise PermissionDenied(StudyRolePermission.message)
        form = serializers.ScanImportSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        upload = form.validated_data["file"]
        session = form.validated_data["session"]
        override = _override_reason(request.user, session.study, form.validated_data)
        try:
            scan = import_scan(
                session,
                upload,
                form.validated_data["format"],
                user=request.user,
                original_name=upload.name,
                dose_mgy=form.validated_data.get("dose_mgy"),
                geometry=form.validated_data.get("geometry"),
                override_reason=override,
            )
        except ImportOverBudget as exc:
            raise ValidationError({"dose_mgy": [str(exc)]}) from exc
        except ImportRefused as exc:
            raise ValidationError({"session": [str(exc)]}) from exc
        except ScanFormatError as exc:
            return Response(
                {"file": [str(exc)], "code": exc.code, "detail": "Nothing was imported."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        data = serializers.ScanSerializer(scan, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={(200, "application/x-hdf5"): bytes})
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        """The raw scan file, with its sha256 in ``X-Checksum-SHA256``."""
        scan = self.get_object()
        path = absolute(scan.relative_path)
        if not path.exists():
            raise Http404("The scan file is missing from the data root.")
        response = FileResponse(path.open("rb"), as_attachment=True, filename=path.name)  # noqa: SIM115 — FileResponse closes it
        response["X-Checksum-SHA256"] = scan.sha256
        return response


class DoseRecordFilter(df.FilterSet):
    study = df.NumberFilter(field_name="animal__study")
    booked_at = df.IsoDateTimeFromToRangeFilter()

    class Meta:
        model = m.DoseRecord
        fields = ["study", "animal", "site", "kind", "booked_at"]


class DoseRecordViewSet(StudyScopedMixin, viewsets.ReadOnlyModelViewSet):
    """The radiation dose ledger: dose booked per animal and site (read-only)."""

    queryset = m.DoseRecord.objects.select_related("animal__study")
    serializer_class = serializers.DoseRecordSerializer
    filterset_class = DoseRecordFilter
    ordering_fields = ["booked_at", "dose_mgy"]
    ordering = ["booked_at", "id"]


class DoseBudgetViewSet(StudyScopedMixin, viewsets.GenericViewSet):
    """Cumulative dose and remaining budget per animal and site (``?study=``, ``?animal=``)."""

    queryset = ScanSession.objects.all()
    serializer_class = serializers.DoseBudgetSerializer
    filter_backends: list = []
    pagination_class = None

    @extend_schema(
        parameters=[serializers.DoseBudgetQuerySerializer],
        responses=serializers.DoseBudgetSerializer(many=True),
    )
    def list(self, request):
        query = serializers.DoseBudgetQuerySerializer(
            data=request.query_params, context={"request": request}
        )
        query.is_valid(raise_exception=True)
        scope = {}
        if "animal" in query.validated_data:
            scope["animal"] = query.validated_data["animal"]
        if "study" in query.validated_data:
            scope["animal__study"] = query.validated_data["study"]
        rows = dose_budget_rows(request.user, **scope)
        return Response(serializers.DoseBudgetSerializer(rows, many=True).data)


def dose_budget_rows(user, **scope) -> list[dict]:
    """One row per (animal, site) the user can see that was scanned or planned."""
    sessions = ScanSession.objects.visible_to(user).filter(**scope)
    ledger = m.DoseRecord.objects.visible_to(user).filter(**scope)
    pairs = set(sessions.values_list("animal", "site")) | set(ledger.values_list("animal", "site"))
    delivered = {
        (row["animal"], row["site"]): row["total"]
        for row in ledger.order_by().values("animal", "site").annotate(total=Sum("dose_mgy"))
    }
    pending_jobs = m.AcquisitionJob.objects.filter(
        session__in=sessions, state__in=[m.AcquisitionState.QUEUED, *m.ACTIVE_STATES]
    )
    pending = {
        (row["session__animal"], row["session__site"]): row["total"]
        for row in pending_jobs.values("session__animal", "session__site").annotate(
            total=Sum("nominal_dose_mgy")
        )
    }
    animals = {
        a.pk: a for a in Animal.objects.filter(pk__in={a for a, _ in pairs}).select_related("study")
    }
    rows = []
    for animal_id, site in sorted(pairs, key=lambda p: (animals[p[0]].label, p[1])):
        animal = animals[animal_id]
        used = float(delivered.get((animal_id, site)) or 0.0)
        waiting = float(pending.get((animal_id, site)) or 0.0)
        budget = animal.study.dose_budget_mgy
        rows.append(
            {
                "study": animal.study_id,
                "animal": animal_id,
                "animal_label": animal.label,
                "site": AnatomicalSite(site).value,
                "delivered_mgy": round(used, 3),
                "pending_mgy": round(waiting, 3),
                "budget_mgy": budget,
                "remaining_mgy": round(budget - used - waiting, 3),
            }
        )
    return rows

"""REST API of the lab records (``/api/v1/``).

Every viewset starts from ``Model.objects.visible_to(user)`` (other studies: 404) and
checks the member's role for the action (too weak: 403) — see ``permissions.py``.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import ProtectedError
from django.http import FileResponse, Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from . import filters, scheduling_filters, serializers
from . import models as m
from .csv_import import import_animals
from .datafiles import absolute
from .dosing_due import due_administrations
from .permissions import StudyRolePermission, can
from .tasks import export_study
from .vocabulary import JobState, Role


class StudyScopedMixin:
    """Records of visible studies only, role checks per action, CSV lists unpaginated."""

    permission_classes = [IsAuthenticated, StudyRolePermission]
    read_role = Role.VIEWER
    write_role = Role.INVESTIGATOR

    def get_queryset(self):
        return self.queryset.visible_to(self.request.user)

    def paginate_queryset(self, queryset):
        # A CSV export is the whole list, not one page of it.
        renderer = getattr(self.request, "accepted_renderer", None)
        if renderer is not None and renderer.format == "csv":
            return None
        return super().paginate_queryset(queryset)


class StudyScopedViewSet(StudyScopedMixin, viewsets.ModelViewSet):
    """A viewset over records of visible studies with role checks.

    ``parent_field`` names the request field that ties a new record to a study (through
    ``parent_model``): a create in a visible study with too weak a role answers 403
    before any validation; an invisible parent reads as "does not exist" (400).
    """

    parent_field = "study"
    parent_model: type = m.Study
    ordering = ["pk"]

    def check_parent_role(self, data) -> None:
        raw = data.get(self.parent_field)
        if raw in (None, "") or not str(raw).isdigit():
            return
        parent = self.parent_model.objects.visible_to(self.request.user).filter(pk=raw).first()
        needed = getattr(self, "action_roles", {}).get(self.action, self.write_role)
        if parent is not None and not can(self.request.user, parent.study, needed):
            raise PermissionDenied(StudyRolePermission.message)

    def create(self, request, *args, **kwargs):
        self.check_parent_role(request.data)
        return super().create(request, *args, **kwargs)

    def destroy(self, request, *args, **kwargs):
        try:
            return super().destroy(request, *args, **kwargs)
        except ProtectedError as exc:
            blocking = sorted({str(obj._meta.verbose_name_plural) for obj in exc.protected_objects})
            return Response(
                {"detail": f"Still referenced by {', '.join(blocking)}; nothing was deleted."},
                status=status.HTTP_409_CONFLICT,
            )

    def perform_update(self, serializer):
        # Moving a record into another study needs the role there too.
        self.check_parent_role(self.request.data)
        serializer.save()


class StudyViewSet(StudyScopedViewSet):
    """Studies you are a member of.  Anyone may create one and becomes its owner."""

    queryset = m.Study.objects.all()
    serializer_class = serializers.StudySerializer
    filterset_class = filters.StudyFilter
    ordering_fields = ["start_date", "title", "status"]
    search_fields = ["title", "description", "principal_investigator", "ethics_licence"]
    action_roles = {"destroy": Role.OWNER}

    def check_parent_role(self, data) -> None:
        return None

    @transaction.atomic
    def perform_create(self, serializer):
        study = serializer.save()
        m.Membership.objects.create(study=study, user=self.request.user, role=Role.OWNER)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "date", OpenApiTypes.DATE, description="The day (ISO 8601); default today."
            )
        ],
        responses=serializers.DueSerializer,
    )
    @action(detail=True, methods=["get"])
    def due(self, request, pk=None):
        """Administrations due on the day and overdue (not recorded as given)."""
        study = self.get_object()
        raw = request.query_params.get("date")
        try:
            date = dt.date.fromisoformat(raw) if raw else timezone.localdate()
        except ValueError as exc:
            raise ValidationError({"date": [f"Not an ISO date: {raw!r}."]}) from exc
        due = due_administrations(study, date)
        payload = {
            "date": date,
            "study_day": study.study_day(date),
            "due_today": due.due_today,
            "overdue": due.overdue,
        }
        context = self.get_serializer_context()
        return Response(serializers.DueSerializer(payload, context=context).data)


class MembershipViewSet(StudyScopedViewSet):
    """Members and roles; owners manage them.  A study keeps at least one owner."""

    queryset = m.Membership.objects.select_related("user", "study")
    serializer_class = serializers.MembershipSerializer
    filterset_class = filters.MembershipFilter
    write_role = Role.OWNER
    ordering_fields = ["role", "user__username"]

    def perform_destroy(self, instance):
        if instance.role == Role.OWNER and not instance.study.memberships.filter(
            role=Role.OWNER
        ).exclude(pk=instance.pk):
            raise ValidationError({"role": ["A study keeps at least one owner."]})
        instance.delete()


class CohortViewSet(StudyScopedViewSet):
    queryset = m.Cohort.objects.select_related("study")
    serializer_class = serializers.CohortSerializer
    filterset_class = filters.CohortFilter
    ordering_fields = ["name", "planned_n"]
    search_fields = ["name", "description"]


class AnimalViewSet(StudyScopedViewSet):
    queryset = m.Animal.objects.select_related("study", "cohort")
    serializer_class = serializers.AnimalSerializer
    filterset_class = filters.AnimalFilter
    ordering_fields = ["label", "date_of_birth", "status", "cage"]
    search_fields = ["label", "ear_tag", "rfid", "cage", "genotype"]
    action_roles = {"import_csv": Role.INVESTIGATOR}

    @extend_schema(
        request={"multipart/form-data": serializers.AnimalImportSerializer},
        responses={
            201: serializers.AnimalSerializer(many=True),
            400: OpenApiResponse(description="Per-line errors; nothing was imported."),
        },
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[MultiPartParser, FormParser],
    )
    def import_csv(self, request):
        """Import animals from CSV: all rows, or none with an error per line."""
        self.check_parent_role(request.data)
        form = serializers.AnimalImportSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        study = form.validated_data["study"]
        context = self.get_serializer_context()
        try:
            result = import_animals(
                study,
                form.validated_data["file"].read(),
                lambda data: serializers.AnimalSerializer(data=data, context=context),
            )
        except ValueError as exc:
            raise ValidationError({"file": [str(exc)]}) from exc
        if result.errors:
            return Response(
                {"detail": "Nothing was imported.", "rows": result.errors},
                status=status.HTTP_400_BAD_REQUEST,
            )
        data = serializers.AnimalSerializer(result.created, many=True, context=context).data
        return Response(data, status=status.HTTP_201_CREATED)


class TreatmentViewSet(StudyScopedViewSet):
    queryset = m.Treatment.objects.select_related("cohort__study")
    serializer_class = serializers.TreatmentSerializer
    filterset_class = filters.TreatmentFilter
    parent_field = "cohort"
    parent_model = m.Cohort
    ordering_fields = ["start_day", "agent", "kind"]

    @extend_schema(request=None, responses=serializers.AdministrationSerializer(many=True))
    @action(detail=True, methods=["post"], url_path="generate-administrations")
    def generate_administrations(self, request, pk=None):
        """Plan the dosing log: one administration per animal of the cohort and schedule day.

        Already planned administrations are kept; animals that are no longer alive are skipped.
        """
        treatment = self.get_object()
        study = treatment.cohort.study
        created = []
        with transaction.atomic():
            for animal in treatment.cohort.animals.filter(status="alive"):
                for day in treatment.schedule_days():
                    planned_at = study.datetime_of_day(day, m.Administration.DEFAULT_TIME)
                    administration, was_created = m.Administration.objects.get_or_create(
                        treatment=treatment, animal=animal, planned_at=planned_at
                    )
                    if was_created:
                        created.append(administration)
        data = serializers.AdministrationSerializer(
            created, many=True, context=self.get_serializer_context()
        ).data
        return Response(data, status=status.HTTP_201_CREATED)


class AdministrationViewSet(StudyScopedViewSet):
    queryset = m.Administration.objects.select_related(
        "animal__study", "treatment", "administered_by"
    )
    serializer_class = serializers.AdministrationSerializer
    filterset_class = filters.AdministrationFilter
    write_role = Role.OPERATOR
    parent_field = "animal"
    parent_model = m.Animal
    ordering_fields = ["planned_at", "actual_at"]

    def perform_create(self, serializer):
        self._save(serializer)

    def perform_update(self, serializer):
        self.check_parent_role(self.request.data)
        self._save(serializer)

    def _save(self, serializer):
        done_now = serializer.validated_data.get("actual_at") is not None
        if done_now and not getattr(serializer.instance, "administered_by_id", None):
            serializer.save(administered_by=self.request.user)
        else:
            serializer.save()


class BodyWeightViewSet(StudyScopedViewSet):
    queryset = m.BodyWeight.objects.with_baseline().select_related("animal__study", "measured_by")
    serializer_class = serializers.BodyWeightSerializer
    filterset_class = filters.BodyWeightFilter
    write_role = Role.OPERATOR
    parent_field = "animal"
    parent_model = m.Animal
    ordering_fields = ["measured_on", "grams"]

    def perform_create(self, serializer):
        serializer.save(measured_by=self.request.user)


class ScanSessionViewSet(StudyScopedViewSet):
    queryset = m.ScanSession.objects.select_related("animal__study", "operator")
    serializer_class = serializers.ScanSessionSerializer
    filterset_class = filters.ScanSessionFilter
    write_role = Role.OPERATOR
    parent_field = "animal"
    parent_model = m.Animal
    ordering_fields = ["planned_at", "state", "site"]

    @extend_schema(
        request=serializers.TransitionSerializer, responses=serializers.ScanSessionSerializer
    )
    @action(detail=True, methods=["post"])
    def transition(self, request, pk=None):
        """Move the session along its state machine by hand (e.g. abort it, mark it failed).

        Never into ``queued`` or ``acquiring``: those come with an acquisition job. Queue a
        scan with ``POST /api/v1/acquisitions/``; re-queue an interrupted or failed one with
        ``POST /api/v1/acquisitions/<id>/requeue/`` and a reason. Either answers 400 here.
        """
        session = self.get_object()
        form = serializers.TransitionSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        target = form.validated_data["state"]
        try:
            session.transition_by_hand(target)
        except m.InvalidTransition as exc:
            raise ValidationError({"state": [str(exc)]}) from exc
        return Response(self.get_serializer(session).data)


class AuditEventViewSet(StudyScopedMixin, viewsets.ReadOnlyModelViewSet):
    """The audit trail of studies where you are owner or investigator (read-only)."""

    queryset = m.AuditEvent.objects.all()
    serializer_class = serializers.AuditEventSerializer
    filterset_class = filters.AuditEventFilter
    read_role = Role.INVESTIGATOR
    write_role = Role.OWNER
    ordering_fields = ["at", "id"]
    ordering = ["-id"]

    def get_queryset(self):
        user = self.request.user
        events = self.queryset.visible_to(user)
        if user.is_superuser:
            return events
        strong = m.Membership.objects.filter(
            user=user, role__in=[Role.OWNER, Role.INVESTIGATOR]
        ).values("study_id")
        return events.filter(study_id__in=strong)

    def get_object(self):
        # Members with a weak role get 403 (not 404): the study is theirs to know.
        event = m.AuditEvent.objects.visible_to(self.request.user).filter(pk=self.kwargs["pk"])
        event = event.first()
        if event is None:
            raise Http404
        self.check_object_permissions(self.request, event)
        return event


class StudyExportViewSet(
    StudyScopedMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """Exports of a study's records (zip of CSV + JSON with a sha256 manifest)."""

    queryset = m.StudyExport.objects.select_related("study", "requested_by")
    serializer_class = serializers.StudyExportSerializer
    filterset_class = filters.StudyExportFilter
    read_role = Role.VIEWER
    write_role = Role.VIEWER
    ordering = ["-created_at"]

    def perform_create(self, serializer):
        export = serializer.save(requested_by=self.request.user)
        transaction.on_commit(lambda: export_study.delay(export.pk))

    @extend_schema(responses={(200, "application/zip"): bytes})
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        """The finished zip (409 while the export is not done)."""
        export = self.get_object()
        if export.state != JobState.DONE:
            return Response(
                {"detail": f"The export is {export.state}."}, status=status.HTTP_409_CONFLICT
            )
        path = absolute(export.relative_path)
        if not path.exists():
            raise Http404("The export file is missing from the data root.")
        response = FileResponse(path.open("rb"), as_attachment=True, filename=path.name)  # noqa: SIM115 — FileResponse closes it
        response["X-Checksum-SHA256"] = export.sha256
        return response


class ScanPlanViewSet(StudyScopedViewSet):
    """Longitudinal scan plans; the scheduled job creates their sessions ahead of time."""

    queryset = m.ScanPlan.objects.select_related("study", "cohort", "animal")
    serializer_class = serializers.ScanPlanSerializer
    filterset_class = scheduling_filters.ScanPlanFilter
    ordering_fields = ["start_day", "site", "created_at"]


class FlagViewSet(StudyScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Flags raised by the scheduled checks (welfare, dosing, scan plans).

    Checks raise and resolve them; members with the operator role or above acknowledge
    them (``acknowledge/``, audited with the note).
    """

    queryset = m.Flag.objects.select_related("study", "animal", "acknowledged_by")
    serializer_class = serializers.FlagSerializer
    filterset_class = scheduling_filters.FlagFilter
    read_role = Role.VIEWER
    write_role = Role.OPERATOR
    ordering_fields = ["raised_at", "severity", "kind"]
    ordering = ["-raised_at", "-id"]
    search_fields = ["message", "subject"]

    @extend_schema(request=serializers.AcknowledgeSerializer, responses=serializers.FlagSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        """Mark the flag as seen and handled (once; a second call changes nothing)."""
        flag = self.get_object()
        form = serializers.AcknowledgeSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        if flag.acknowledged_at is None:
            flag.acknowledged_at = timezone.now()
            flag.acknowledged_by = request.user
            flag.acknowledgement_note = form.validated_data["note"]
            flag.save(update_fields=["acknowledged_at", "acknowledged_by", "acknowledgement_note"])
        return Response(self.get_serializer(flag).data)

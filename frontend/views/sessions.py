"""Scan-session pages: the session, its form, moves along its state machine, and scanning.

The scanning panels show the session's acquisitions (live progress read from the
acquisition API by ``live.js``; pause, resume, abort and re-queue for operators), a form
to start one with a protocol (its nominal dose against the remaining budget), the
reconstructions (re-run for investigators) and every volume with its render and a link
to the viewer.  Each action goes through the API's own view or rule, so the page and the
API refuse the same things.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST
from rest_framework.exceptions import ValidationError as ApiValidationError

from acquisition.dose import BudgetCheck
from acquisition.models import (
    ACTIVE_STATES,
    AcquisitionJob,
    AcquisitionState,
    InstrumentStatus,
    ScanProtocol,
    budget_check,
)
from acquisition.views import AcquisitionViewSet
from recon import jobs as recon_jobs
from recon.models import Reconstruction, Volume
from recon.pipeline import ALGORITHMS
from recon.serializers import ReconstructionSerializer
from studies.audit import audit_context
from studies.datafiles import absolute
from studies.models import InvalidTransition, ScanSession, Study
from studies.vocabulary import SESSION_TRANSITIONS, JobState, Role, SessionState

from ..access import Abilities, study_for
from ..forms import ScanSessionForm, TransitionForm
from ..tasks import no_surface_path, thumbnail_path
from .common import form_page, study_page
from .renders import render_exists


def _session(study: Study, session_id: int) -> ScanSession:
    return get_object_or_404(
        ScanSession.objects.select_related("animal__cohort", "operator"),
        pk=session_id,
        animal__study=study,
    )


#: Acquisition states in which the page keeps polling the API.
LIVE_ACQUISITION_STATES = (AcquisitionState.QUEUED, *ACTIVE_STATES)
#: Reconstruction states in which the page keeps polling the API.
LIVE_RECONSTRUCTION_STATES = (JobState.QUEUED, JobState.RUNNING)
#: The API actions an operator may take on an acquisition from the page: (action, button,
#: the phases in which it is offered — ``pausing`` is running with a pause requested).
ACQUISITION_CONTROLS = (
    ("pause", "Pause", "running"),
    ("resume", "Resume", "paused pausing"),
    ("abort", "Abort", "queued running paused pausing"),
)
ACQUISITION_ACTIONS = tuple(action for action, _, _ in ACQUISITION_CONTROLS)


def acquisition_phase(job: AcquisitionJob | None) -> str:
    """The job's state, or ``"pausing"`` while a pause is requested but not yet taken."""
    if job is None:
        return ""
    if job.state == AcquisitionState.RUNNING and job.pause_requested:
        return "pausing"
    return str(job.state)


@dataclass(frozen=True)
class ProtocolChoice:
    """A protocol the session may be scanned with, and what it would do to the budget."""

    protocol: ScanProtocol
    check: BudgetCheck


def protocol_choices(session: ScanSession) -> list[ProtocolChoice]:
    """Current protocols for the session's site on available instruments, with budget checks."""
    protocols = ScanProtocol.objects.filter(
        is_current=True, site=session.site, instrument__status=InstrumentStatus.AVAILABLE
    ).select_related("instrument")
    return [
        ProtocolChoice(p, budget_check(session.animal, session.site, p.nominal_dose_mgy))
        for p in protocols.order_by("instrument__name", "name")
    ]


class AcquisitionStartForm(forms.Form):
    """Start a scan of the session (the API's fields: ``protocol``, ``override_reason``)."""

    protocol = forms.ChoiceField(label="Protocol")
    override_reason = forms.CharField(
        label="Reason to exceed the dose budget",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Investigators only; kept in the audit log.",
    )

    def __init__(self, *args, choices: list[ProtocolChoice], may_override: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["protocol"].choices = [
            (
                str(c.protocol.pk),
                f"{c.protocol.name} v{c.protocol.version} on {c.protocol.instrument} · "
                f"{c.protocol.nominal_dose_mgy:.1f} mGy"
                + ("" if c.check.allowed else " · over budget"),
            )
            for c in choices
        ]
        if not may_override:
            del self.fields["override_reason"]


class ReconstructionForm(forms.Form):
    """Re-run a reconstruction of one of the session's scans with new parameters."""

    scan = forms.ChoiceField()
    algorithm = forms.ChoiceField(choices=[(a, a.upper()) for a in ALGORITHMS])
    axis_offset_px = forms.FloatField(
        label="Rotation-axis offset (px)",
        required=False,
        help_text="Empty: found from the data.",
    )
    iterations = forms.IntegerField(min_value=1, initial=40, help_text="SIRT and CGLS.")
    n_slabs = forms.IntegerField(
        label="Slabs", min_value=1, max_value=64, initial=1, help_text="Workers in parallel."
    )

    def __init__(self, *args, scans: list, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scan"].choices = [(str(scan.pk), f"scan {scan.pk}") for scan in scans]

    def parameters(self) -> dict:
        data = self.cleaned_data
        parameters = {"algorithm": data["algorithm"], "iterations": data["iterations"]}
        if data.get("axis_offset_px") is not None:
            parameters["axis_offset_px"] = data["axis_offset_px"]
        return parameters


def timings_text(timings: dict) -> str:
    """``"fdk 1.30 s · preprocess 0.21 s"``: a reconstruction's seconds per step, longest first."""
    steps = [(s, v) for s, v in (timings or {}).items() if isinstance(v, int | float)]
    steps.sort(key=lambda step: (-step[1], step[0]))
    return " · ".join(f"{step} {seconds:.2f} s" for step, seconds in steps)


@dataclass(frozen=True)
class VolumeRow:
    """A volume on the session page: whether its picture is drawn, or why it cannot be."""

    volume: Volume
    thumbnail: bool
    no_surface: str = ""


def volume_row(volume: Volume) -> VolumeRow:
    if render_exists(thumbnail_path(volume)):
        return VolumeRow(volume, True)
    reason = absolute(no_surface_path(volume))
    return VolumeRow(volume, False, reason.read_text() if reason.exists() else "")


def _acquisitions(session: ScanSession) -> QuerySet[AcquisitionJob]:
    return session.acquisitions.select_related(
        "protocol", "instrument", "requested_by", "dose_override_by"
    ).order_by("-created_at", "-id")


def _can_start(session: ScanSession, may: Abilities) -> bool:
    return (
        may.operate
        and session.animal.is_alive
        and SessionState.QUEUED in SESSION_TRANSITIONS.get(session.state, frozenset())
        and not session.acquisitions.filter(state__in=LIVE_ACQUISITION_STATES).exists()
    )


def _render_session(
    request: HttpRequest,
    study: Study,
    session: ScanSession,
    form: TransitionForm | None,
    *,
    start_form: AcquisitionStartForm | None = None,
    recon_form: ReconstructionForm | None = None,
) -> HttpResponse:
    may = Abilities.of(request.user, study)
    if form is None and may.operate:
        form = TransitionForm(session=session, targets=session.manual_targets())
    series = (
        ScanSession.objects.filter(animal=session.animal, site=session.site)
        .exclude(pk=session.pk)
        .order_by("planned_at")
    )
    choices = protocol_choices(session) if _can_start(session, may) else []
    if start_form is None and choices:
        start_form = AcquisitionStartForm(choices=choices, may_override=may.edit_records)
    scans = list(session.scans.order_by("-created_at", "-id"))
    if recon_form is None and may.edit_records and scans:
        recon_form = ReconstructionForm(scans=scans)
    reconstructions = (
        Reconstruction.objects.filter(scan__session=session)
        .select_related("volume", "requested_by")
        .order_by("-created_at", "-id")
    )
    # Segmentation volumes hold labels only: they appear as overlays in the viewer.
    volumes = (
        session.volumes.with_grey_values()
        .select_related("reconstruction")
        .order_by("-created_at", "-id")
    )
    acquisitions = list(_acquisitions(session))
    return study_page(
        request,
        study,
        "animals",
        "frontend/session_detail.html",
        session=session,
        transition_form=form if may.operate else None,
        series=[(s, study.study_day(s.planned_at)) for s in series],
        acquisitions=acquisitions,
        acquisition_phase=acquisition_phase(acquisitions[0] if acquisitions else None),
        acquisition_controls=ACQUISITION_CONTROLS,
        api_prefix=reverse("acquisitionjob-list"),
        live_acquisition_states=[str(s) for s in LIVE_ACQUISITION_STATES],
        protocol_choices=choices,
        start_form=start_form if choices else None,
        reconstructions=[(rec, timings_text(rec.timings)) for rec in reconstructions],
        live_reconstruction_states=[str(s) for s in LIVE_RECONSTRUCTION_STATES],
        recon_form=recon_form if may.edit_records and scans else None,
        volumes=[volume_row(v) for v in volumes],
        can_start=_can_start(session, may),
    )


@login_required
def session_detail(request: HttpRequest, study_id: int, session_id: int) -> HttpResponse:
    study = study_for(request, study_id)
    return _render_session(request, study, _session(study, session_id), None)


@login_required
@require_POST
def session_transition(request: HttpRequest, study_id: int, session_id: int) -> HttpResponse:
    """Move a session by hand to the posted state (operators).

    Never into ``queued`` or ``acquiring``: a session enters those only with its
    acquisition job (the start form, or the acquisition's re-queue with a reason).
    """
    study = study_for(request, study_id, Role.OPERATOR)
    session = _session(study, session_id)
    form = TransitionForm(request.POST, session=session, targets=session.manual_targets())
    if not form.is_valid():
        return _render_session(request, study, session, form)
    reason = form.cleaned_data["reason"].strip()
    target = form.cleaned_data["state"]
    try:
        with audit_context(request=request, source="page", reason=reason):
            session.transition_by_hand(target)
    except InvalidTransition as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"The session is now {session.get_state_display().lower()}.")
    return redirect("frontend:session-detail", study_id=study.pk, session_id=session.pk)


@login_required
def session_edit(
    request: HttpRequest, study_id: int, session_id: int | None = None
) -> HttpResponse:
    """Plan a scan session (``?animal=<id>`` preselects the animal) or edit one."""
    study = study_for(request, study_id, Role.OPERATOR)
    session = _session(study, session_id) if session_id else None
    initial = {}
    wanted = request.GET.get("animal", "")
    if session is None and wanted.isdigit() and study.animals.filter(pk=wanted).exists():
        initial["animal"] = int(wanted)
    form = ScanSessionForm(request.POST or None, instance=session, study=study, initial=initial)
    if session:
        cancel = reverse("frontend:session-detail", args=[study.pk, session.pk])
    elif "animal" in initial:
        cancel = reverse("frontend:animal-detail", args=[study.pk, initial["animal"]])
    else:
        cancel = reverse("frontend:study-schedule", args=[study.pk])
    return form_page(
        request,
        form,
        study=study,
        title=f"Edit scan session {session}" if session else "Plan a scan session",
        cancel_url=cancel,
        success_url=lambda record: reverse("frontend:session-detail", args=[study.pk, record.pk]),
    )


def _api_errors(data) -> dict[str, list[str]]:
    """The API's error body as field → messages (``detail`` becomes a form-wide one)."""
    if not isinstance(data, dict):
        return {"__all__": [str(data)]}
    errors = {}
    for field, value in data.items():
        values = value if isinstance(value, list) else [value]
        errors["__all__" if field in ("detail", "non_field_errors") else field] = [
            str(v) for v in values
        ]
    return errors


#: The API's acquisition views, served to the page as they are, so that the rules (budget,
#: who may override, which states allow what) stay written once.
_start_acquisition = AcquisitionViewSet.as_view({"post": "create"})
_acquisition_action = {
    name: AcquisitionViewSet.as_view({"post": name}) for name in (*ACQUISITION_ACTIONS, "requeue")
}


@login_required
@require_POST
def acquisition_start(request: HttpRequest, study_id: int, session_id: int) -> HttpResponse:
    """Start a scan of the session (operators; an over-budget override needs an investigator)."""
    study = study_for(request, study_id, Role.OPERATOR)
    session = _session(study, session_id)
    may = Abilities.of(request.user, study)
    choices = protocol_choices(session) if _can_start(session, may) else []
    if request.POST.get("session") != str(session.pk):
        return HttpResponse("The form is for another session.", status=400)
    if not choices:
        messages.error(request, "This session cannot be scanned now.")
        return redirect("frontend:session-detail", study_id=study.pk, session_id=session.pk)
    response = _start_acquisition(request)
    if response.status_code == 201:
        messages.success(request, "The scan is queued on the instrument.")
        return redirect("frontend:session-detail", study_id=study.pk, session_id=session.pk)
    form = AcquisitionStartForm(request.POST, choices=choices, may_override=may.edit_records)
    form.is_valid()
    for field, errors in _api_errors(response.data).items():
        for error in errors:
            form.add_error(field if field in form.fields else None, error)
    return _render_session(request, study, session, None, start_form=form)


@login_required
@require_POST
def acquisition_action(
    request: HttpRequest, study_id: int, session_id: int, job_id: int, action: str
) -> HttpResponse:
    """Pause, resume, abort or re-queue an acquisition of the session (operators)."""
    study = study_for(request, study_id, Role.OPERATOR)
    session = _session(study, session_id)
    job = get_object_or_404(AcquisitionJob, pk=job_id, session=session)
    view = _acquisition_action.get(action)
    if view is None:
        return HttpResponse(status=404)
    response = view(request, pk=job.pk)
    if response.status_code < 300:
        done = {"pause": "pause requested", "resume": "resumed", "abort": "abort requested"}
        messages.success(request, f"Acquisition {job.pk}: {done.get(action, 're-queued')}.")
    else:
        problems = "; ".join(m for ms in _api_errors(response.data).values() for m in ms)
        messages.error(request, f"Acquisition {job.pk}: {problems}")
    return redirect("frontend:session-detail", study_id=study.pk, session_id=session.pk)


@login_required
@require_POST
def reconstruction_start(request: HttpRequest, study_id: int, session_id: int) -> HttpResponse:
    """Re-run a reconstruction with new parameters (investigators; earlier ones stay)."""
    study = study_for(request, study_id, Role.INVESTIGATOR)
    session = _session(study, session_id)
    scans = list(session.scans.order_by("-created_at", "-id"))
    form = ReconstructionForm(request.POST, scans=scans)
    if form.is_valid():
        api = ReconstructionSerializer(
            data={
                "scan": form.cleaned_data["scan"],
                "parameters": form.parameters(),
                "n_slabs": form.cleaned_data["n_slabs"],
            },
            context={"request": request},
        )
        try:
            api.is_valid(raise_exception=True)
            with audit_context(request=request, source="page"):
                rec = recon_jobs.start_reconstruction(
                    api.validated_data["scan"],
                    parameters=api.validated_data["parameters"],
                    n_slabs=api.validated_data["n_slabs"],
                    user=request.user,
                )
        except ApiValidationError as exc:
            for field, errors in _api_errors(exc.detail).items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            messages.success(request, f"Reconstruction {rec.pk} is queued.")
            return redirect("frontend:session-detail", study_id=study.pk, session_id=session.pk)
    return _render_session(request, study, session, None, recon_form=form)

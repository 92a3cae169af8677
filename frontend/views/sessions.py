"""Scan-session pages: the session, its form, and moves along its state machine."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from studies.audit import audit_context
from studies.models import InvalidTransition, ScanSession, Study
from studies.vocabulary import SESSION_TRANSITIONS, Role, SessionState

from ..access import Abilities, study_for
from ..forms import ScanSessionForm, TransitionForm
from .common import form_page, study_page


def _session(study: Study, session_id: int) -> ScanSession:
    return get_object_or_404(
        ScanSession.objects.select_related("animal__cohort", "operator"),
        pk=session_id,
        animal__study=study,
    )


def _targets(session: ScanSession) -> list[str]:
    """States the session may move to next, in the vocabulary's order."""
    allowed = SESSION_TRANSITIONS.get(session.state, frozenset())
    return [state for state in SessionState.values if state in allowed]


def _render_session(
    request: HttpRequest, study: Study, session: ScanSession, form: TransitionForm | None
) -> HttpResponse:
    may = Abilities.of(request.user, study)
    if form is None and may.operate:
        form = TransitionForm(session=session, targets=_targets(session))
    series = (
        ScanSession.objects.filter(animal=session.animal, site=session.site)
        .exclude(pk=session.pk)
        .order_by("planned_at")
    )
    return study_page(
        request,
        study,
        "animals",
        "frontend/session_detail.html",
        session=session,
        transition_form=form if may.operate else None,
        series=[(s, study.study_day(s.planned_at)) for s in series],
    )


@login_required
def session_detail(request: HttpRequest, study_id: int, session_id: int) -> HttpResponse:
    study = study_for(request, study_id)
    return _render_session(request, study, _session(study, session_id), None)


@login_required
@require_POST
def session_transition(request: HttpRequest, study_id: int, session_id: int) -> HttpResponse:
    """Move a session to the posted state (operators); a re-queue after a failure needs a reason."""
    study = study_for(request, study_id, Role.OPERATOR)
    session = _session(study, session_id)
    form = TransitionForm(request.POST, session=session, targets=_targets(session))
    if not form.is_valid():
        return _render_session(request, study, session, form)
    reason = form.cleaned_data["reason"].strip()
    target = form.cleaned_data["state"]
    try:
        with audit_context(request=request, source="page", reason=reason):
            session.transition_to(target)
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

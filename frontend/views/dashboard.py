"""The dashboard: my studies, today's and overdue work, the instrument queue.

The queue panel (sessions acquiring or queued, with the running acquisition's progress,
and the reconstructions queued or running) is also served alone at ``queue/``, which
``live.js`` fetches every few seconds to keep the panel current.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.decorators import login_required
from django.db.models import Case, Count, Q, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from acquisition.models import ACTIVE_STATES, AcquisitionJob
from recon.models import Reconstruction
from studies.models import Administration, Flag, ScanSession, Study, role_at_least
from studies.vocabulary import AnimalStatus, JobState, Role, SessionState

#: At most this many rows per panel (the full lists are on the study pages and the API).
PANEL_ROWS = 50

#: Seconds between two refreshes of the queue panel.
QUEUE_REFRESH_S = 3

#: Sessions that still have to be scanned.
_TO_SCAN = [SessionState.PLANNED, SessionState.QUEUED]


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The aware start of ``day`` and of the next day, in the lab's time zone."""
    start = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
    return start, start + dt.timedelta(days=1)


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    user = request.user
    today = timezone.localdate()
    start, end = day_bounds(today)
    studies = Study.objects.visible_to(user).annotate(
        n_animals=Count("animals", filter=Q(animals__status=AnimalStatus.ALIVE), distinct=True)
    )
    sessions = ScanSession.objects.visible_to(user).select_related("animal__study")
    due_sessions = sessions.filter(
        Q(planned_at__gte=start, planned_at__lt=end)
        | Q(planned_at__lt=start, state__in=_TO_SCAN, animal__status=AnimalStatus.ALIVE)
    ).order_by("planned_at", "animal__label")
    doses = Administration.objects.visible_to(user).select_related("animal__study", "treatment")
    due_doses = doses.filter(
        Q(planned_at__gte=start, planned_at__lt=end)
        | Q(planned_at__lt=start, actual_at__isnull=True, animal__status=AnimalStatus.ALIVE)
    ).order_by("planned_at", "animal__label")
    # Open flags (welfare endpoints first): raised by the scheduled checks, cleared by the
    # checks or acknowledged through the API (``/api/v1/flags/<id>/acknowledge/``).
    open_flags = (
        Flag.objects.visible_to(user)
        .filter(resolved_at=None, acknowledged_at=None)
        .select_related("study", "animal")
        .order_by(Case(When(severity=Flag.Severity.CRITICAL, then=0), default=1), "-raised_at")
    )
    rows = [(study, study.role_of(user), study.study_day(today)) for study in studies]
    context = {
        "today": today,
        "start": start,
        "studies": rows,
        "operable": {study.pk for study, role, _ in rows if role_at_least(role, Role.OPERATOR)},
        "due_sessions": due_sessions[:PANEL_ROWS],
        "n_due_sessions": due_sessions.count(),
        "due_doses": due_doses[:PANEL_ROWS],
        "n_due_doses": due_doses.count(),
        "open_flags": open_flags[:PANEL_ROWS],
        "n_open_flags": open_flags.count(),
        "panel_rows": PANEL_ROWS,
        **instrument_queue(user),
    }
    return render(request, "frontend/dashboard.html", context)


def instrument_queue(user) -> dict:
    """The queue panel's context: sessions acquiring then queued (``queue_rows`` pairs each
    with its running or paused acquisition, or None), and the reconstructions queued or
    running."""
    sessions = ScanSession.objects.visible_to(user).select_related("animal__study")
    queue = sessions.filter(state__in=[SessionState.ACQUIRING, SessionState.QUEUED]).order_by(
        "state",
        "state_changed_at",  # acquiring first, then the queue in order
    )
    shown = list(queue[:PANEL_ROWS])
    jobs = AcquisitionJob.objects.filter(
        session__in=[s.pk for s in shown], state__in=ACTIVE_STATES
    ).select_related("protocol", "instrument")
    reconstructions = (
        Reconstruction.objects.visible_to(user)
        .filter(state__in=[JobState.RUNNING, JobState.QUEUED])
        .select_related("scan__session__animal__study")
        .order_by("-state", "created_at")  # running first
    )
    running = {job.session_id: job for job in jobs}
    return {
        "queue": shown,
        "queue_rows": [(session, running.get(session.pk)) for session in shown],
        "n_queue": queue.count(),
        "reconstructions": list(reconstructions[:PANEL_ROWS]),
        "queue_refresh_s": QUEUE_REFRESH_S,
    }


@login_required
def queue_panel(request: HttpRequest) -> HttpResponse:
    """The instrument queue panel alone (HTML fragment, refreshed by ``live.js``)."""
    context = {**instrument_queue(request.user), "panel_rows": PANEL_ROWS}
    return render(request, "frontend/partials/queue.html", context)

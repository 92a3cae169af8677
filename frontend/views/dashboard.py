"""The dashboard: my studies, today's and overdue work, the instrument queue."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from studies.models import Administration, ScanSession, Study, role_at_least
from studies.vocabulary import AnimalStatus, Role, SessionState

#: At most this many rows per panel (the full lists are on the study pages and the API).
PANEL_ROWS = 50

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
    queue = sessions.filter(state__in=[SessionState.ACQUIRING, SessionState.QUEUED]).order_by(
        "state",
        "state_changed_at",  # acquiring first, then the queue in order
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
        "queue": queue[:PANEL_ROWS],
        "n_queue": queue.count(),
        "panel_rows": PANEL_ROWS,
    }
    return render(request, "frontend/dashboard.html", context)

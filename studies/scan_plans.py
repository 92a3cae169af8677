"""Longitudinal scan plans: create the sessions ahead of time, flag overdue and missed ones.

For each active plan and each living animal it targets, the scheduled job creates the
scan sessions whose planned day lies within ``plan.lead_days`` from today — one per
(plan, animal, visit), so a re-run creates nothing twice (a database constraint
guarantees it under concurrent runs too).  Visits whose window had already closed when
the plan was made are not created.  A plan session still ``planned`` or ``queued``
after its planned day is flagged ``scan-overdue``; after its ± window it is flagged
``scan-missed`` instead; the flags resolve once the session moves on (acquiring or
later, or aborted).

Queueing due sessions on a free instrument and the dose-budget check belong to the
acquisition app, which owns instruments and dose records.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from .flags import WantedFlag, checked_studies, sync_flags
from .models import Flag, ScanPlan, ScanSession, Study
from .scheduling import VisitTiming, visit_days, visit_timing
from .vocabulary import AnimalStatus, SessionState

PLAN_FLAG_KINDS = [Flag.Kind.SCAN_OVERDUE, Flag.Kind.SCAN_MISSED]
#: Sessions not yet started: the ones that can be late.
WAITING_STATES = [SessionState.PLANNED, SessionState.QUEUED]


def materialise_sessions(plan: ScanPlan, today: dt.date) -> int:
    """Create the plan's sessions due within ``plan.lead_days`` of ``today``; return how many."""
    study = plan.study
    horizon = today + dt.timedelta(days=plan.lead_days)
    earliest = timezone.localtime(plan.created_at).date() - dt.timedelta(days=plan.window_days)
    visits = [
        (visit, study.start_date + dt.timedelta(days=day))
        for visit, day in enumerate(
            visit_days(plan.start_day, plan.interval_days, plan.duration_weeks)
        )
    ]
    visits = [(visit, date) for visit, date in visits if earliest <= date <= horizon]
    created = 0
    for animal in plan.target_animals():
        for visit, date in visits:
            planned_at = timezone.make_aware(dt.datetime.combine(date, plan.time_of_day))
            with transaction.atomic():
                _, was_created = ScanSession.objects.get_or_create(
                    scan_plan=plan,
                    animal=animal,
                    plan_visit=visit,
                    defaults={"site": plan.site, "planned_at": planned_at},
                )
            created += was_created
    return created


def _timing_flag(session: ScanSession, timing: VisitTiming) -> WantedFlag:
    missed = timing == VisitTiming.MISSED
    planned = timezone.localtime(session.planned_at).date()
    window = session.scan_plan.window_days
    return WantedFlag(
        kind=Flag.Kind.SCAN_MISSED if missed else Flag.Kind.SCAN_OVERDUE,
        severity=Flag.Severity.CRITICAL if missed else Flag.Severity.WARNING,
        subject=f"scan-session:{session.pk}",
        message=(
            f"{session.get_site_display()} scan of {session.animal} planned "
            f"{planned:%Y-%m-%d} (± {window} d) is still {session.state}"
            f"{': its window has closed' if missed else ''}."
        ),
        links={"scan_session": session, "animal": session.animal},
    )


def late_session_flags(study: Study, today: dt.date) -> list[WantedFlag]:
    """Flags for the study's plan sessions that are overdue or missed on ``today``."""
    sessions = ScanSession.objects.filter(
        animal__study=study,
        animal__status=AnimalStatus.ALIVE,
        scan_plan__isnull=False,
        state__in=WAITING_STATES,
    ).select_related("scan_plan", "animal")
    wanted = []
    for session in sessions:
        planned = timezone.localtime(session.planned_at).date()
        timing = visit_timing(planned, today, session.scan_plan.window_days)
        if timing in (VisitTiming.OVERDUE, VisitTiming.MISSED):
            wanted.append(_timing_flag(session, timing))
    return wanted


def run_scan_plans(today: dt.date | None = None) -> dict[int, dict[str, int]]:
    """Create upcoming sessions of every active plan and sync the lateness flags.

    Returns ``{study_id: {"created": n, "overdue": n, "missed": n, "raised": n,
    "reopened": n, "resolved": n}}``.
    """
    today = today or timezone.localdate()
    summary: dict[int, dict[str, int]] = {}
    for study in checked_studies():
        created = sum(
            materialise_sessions(plan, today)
            for plan in ScanPlan.objects.filter(study=study, active=True).select_related("study")
        )
        wanted = late_session_flags(study, today)
        synced = sync_flags(study, PLAN_FLAG_KINDS, wanted, auto_resolve=True)
        summary[study.pk] = {
            "created": created,
            "overdue": sum(w.kind == Flag.Kind.SCAN_OVERDUE for w in wanted),
            "missed": sum(w.kind == Flag.Kind.SCAN_MISSED for w in wanted),
            **synced.as_dict(),
        }
    return summary

"""Queue the due sessions of longitudinal scan plans on a free instrument.

``studies/scan_plans.py`` creates a plan's sessions ahead of time and flags late ones;
this module, which knows instruments, protocols and dose, starts them.  A plan session
is *due* while today lies in its ± window (``studies.scheduling.visit_timing``:
in-window or overdue).  For each due session still ``planned``, in order of planned
time, the plan's ``protocol_name`` is matched to the current protocol of that name for
the session's site, on an available instrument with no queued, running or paused
acquisition; the scan is requested through :func:`acquisition.jobs.request_acquisition`
(the same checks as a person's request) and its task is sent once the transaction
commits.  Each instrument takes one job per run; the others wait for the next run.

A session that would take its animal past the study's dose budget is never queued and
gets a ``scan-over-budget`` flag; one that cannot be queued for another lasting reason
(no protocol of that name for the site) gets ``scan-not-queued``.  Both flags resolve by
themselves once the session is queued by hand, its window has closed, or the cause is
gone.  Plans without a protocol name are left to people.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from studies.audit import audit_context
from studies.flags import WantedFlag, checked_studies, sync_flags
from studies.models import Flag, ScanSession, Study
from studies.scheduling import VisitTiming, visit_timing
from studies.vocabulary import AnimalStatus, SessionState

from . import jobs
from .models import (
    ACTIVE_STATES,
    AcquisitionJob,
    AcquisitionState,
    InstrumentStatus,
    ScanProtocol,
    budget_check,
)

log = logging.getLogger(__name__)

PLANNING_FLAG_KINDS = [Flag.Kind.SCAN_OVER_BUDGET, Flag.Kind.SCAN_NOT_QUEUED]
DUE = (VisitTiming.IN_WINDOW, VisitTiming.OVERDUE)
BUSY_STATES = (AcquisitionState.QUEUED, *ACTIVE_STATES)


@dataclass
class StudyOutcome:
    """What one run did for one study: sessions queued (job ids) and the flags wanted."""

    queued: dict[int, int] = field(default_factory=dict)  # session id → acquisition job id
    flags: list[WantedFlag] = field(default_factory=list)


def due_sessions(study: Study, today: dt.date) -> list[ScanSession]:
    """The study's plan sessions still ``planned`` whose window includes ``today``."""
    sessions = ScanSession.objects.filter(
        animal__study=study,
        animal__status=AnimalStatus.ALIVE,
        scan_plan__active=True,
        state=SessionState.PLANNED,
    ).exclude(scan_plan__protocol_name="")
    due = []
    for session in sessions.select_related("scan_plan", "animal__study").order_by("planned_at"):
        planned = timezone.localtime(session.planned_at).date()
        if visit_timing(planned, today, session.scan_plan.window_days) in DUE:
            due.append(session)
    return due


def current_protocols(session: ScanSession) -> list[ScanProtocol]:
    """Current protocols named as the session's plan says, for its site (any instrument)."""
    return list(
        ScanProtocol.objects.filter(
            name=session.scan_plan.protocol_name, site=session.site, is_current=True
        )
        .select_related("instrument")
        .order_by("instrument__name")
    )


def _flag(session: ScanSession, kind: str, message: str, value: float | None = None):
    return WantedFlag(
        kind=kind,
        severity=Flag.Severity.WARNING,
        subject=f"scan-session:{session.pk}",
        message=message,
        value=value,
        links={"scan_session": session, "animal": session.animal},
    )


def _over_budget(session: ScanSession, check) -> WantedFlag:
    return _flag(
        session,
        Flag.Kind.SCAN_OVER_BUDGET,
        f"Planned scan of {session.animal} not queued: "
        + check.message(session.animal.label, session.site),
        value=check.after_mgy,
    )


def _is_free(instrument, busy: set[int]) -> bool:
    return instrument.status == InstrumentStatus.AVAILABLE and instrument.pk not in busy


def _request(session: ScanSession, protocol: ScanProtocol) -> AcquisitionJob:
    from .tasks import run_acquisition

    with transaction.atomic():
        job = jobs.request_acquisition(session, protocol, user=None, source="task")
        transaction.on_commit(lambda: run_acquisition.delay(job.pk), robust=True)
    return job


def plan_study(study: Study, today: dt.date, busy: set[int]) -> StudyOutcome:
    """Queue the study's due plan sessions on free instruments; say which to flag.

    ``busy`` holds the ids of instruments with a pending job; instruments given a job
    here are added to it.
    """
    outcome = StudyOutcome()
    for session in due_sessions(study, today):
        protocols = current_protocols(session)
        if not protocols:
            outcome.flags.append(
                _flag(
                    session,
                    Flag.Kind.SCAN_NOT_QUEUED,
                    f"Planned scan of {session.animal} not queued: no current protocol "
                    f"{session.scan_plan.protocol_name!r} for {session.get_site_display()}.",
                )
            )
            continue
        check = budget_check(session.animal, session.site, protocols[0].nominal_dose_mgy)
        if not check.allowed:
            outcome.flags.append(_over_budget(session, check))
            continue
        free = next((p for p in protocols if _is_free(p.instrument, busy)), None)
        if free is None:
            continue  # every instrument is busy: the next run tries again
        try:
            job = _request(session, free)
        except jobs.DoseBudgetExceeded as exc:  # the budget moved since the check above
            outcome.flags.append(_over_budget(session, exc.check))
            continue
        except jobs.AcquisitionRefused as exc:  # the session or instrument changed meanwhile
            log.warning("plan session %s not queued: %s", session.pk, exc)
            continue
        busy.add(free.instrument_id)
        outcome.queued[session.pk] = job.pk
    return outcome


def queue_planned_sessions(today: dt.date | None = None) -> dict[int, dict]:
    """Queue due plan sessions of every planning or active study; sync their flags.

    Parameters
    ----------
    today : datetime.date, optional
        The day whose due sessions are queued (the lab's local date by default).

    Returns
    -------
    dict
        ``{study_id: {"queued": {session_id: job_id}, "over_budget": n,
        "not_queued": n, "raised": n, "reopened": n, "resolved": n}}``.
    """
    today = today or timezone.localdate()
    busy = set(
        AcquisitionJob.objects.filter(state__in=BUSY_STATES).values_list("instrument_id", flat=True)
    )
    summary: dict[int, dict] = {}
    with audit_context(source="task", reason="scheduled plan queueing"):
        for study in checked_studies().order_by("pk"):
            outcome = plan_study(study, today, busy)
            synced = sync_flags(study, PLANNING_FLAG_KINDS, outcome.flags, auto_resolve=True)
            kinds = [wanted.kind for wanted in outcome.flags]
            summary[study.pk] = {
                "queued": outcome.queued,
                "over_budget": kinds.count(Flag.Kind.SCAN_OVER_BUDGET),
                "not_queued": kinds.count(Flag.Kind.SCAN_NOT_QUEUED),
                **synced.as_dict(),
            }
    return summary

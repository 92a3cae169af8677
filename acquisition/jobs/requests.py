"""Requests from people: queue a scan (budget checked), re-queue, pause, resume, abort."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from studies.audit import audit_context, record_event
from studies.models import InvalidTransition, ScanSession
from studies.vocabulary import SessionState

from ..models import (
    ACTIVE_STATES,
    AcquisitionJob,
    AcquisitionState,
    InstrumentStatus,
    ScanProtocol,
    budget_check,
    lock_animal,
)
from .base import AcquisitionRefused, DoseBudgetExceeded


def _check_site_and_instrument(session: ScanSession, protocol: ScanProtocol) -> None:
    if protocol.site != session.site:
        raise AcquisitionRefused(
            f"The protocol is for {protocol.get_site_display()}, the session for "
            f"{session.get_site_display()}.",
            "protocol",
        )
    if protocol.instrument.status != InstrumentStatus.AVAILABLE:
        raise AcquisitionRefused(
            f"The instrument {protocol.instrument} is {protocol.instrument.status}.", "protocol"
        )
    if not session.animal.is_alive:
        raise AcquisitionRefused(
            f"{session.animal} is {session.animal.status}: it cannot be scanned.", "session"
        )


def _queue_session(session: ScanSession) -> None:
    try:
        session.transition_to(SessionState.QUEUED)
    except InvalidTransition as exc:
        raise AcquisitionRefused(str(exc), "session") from exc


def request_acquisition(
    session: ScanSession,
    protocol: ScanProtocol,
    *,
    user,
    paced: bool = True,
    seed: int | None = None,
    override_reason: str = "",
    source: str = "api",
) -> AcquisitionJob:
    """Queue a scan of ``session`` with ``protocol`` (the caller sends the task on commit).

    ``source`` is the audit trail's: ``"api"``, ``"page"`` or ``"task"`` (the planner).

    Refused before any exposure when the protocol does not fit the session, the
    instrument is not available, the animal is not alive, the session cannot be queued,
    or the scan would exceed the study's dose budget at the site and no
    ``override_reason`` is given.  Whether ``user`` may override is the caller's rule.

    Raises
    ------
    AcquisitionRefused
        With a message and the name of the field at fault.
    DoseBudgetExceeded
        With the budget figures.
    """
    with transaction.atomic(), audit_context(user=user, source=source, reason=override_reason):
        return _queue_job(
            session, protocol, user=user, override_reason=override_reason,
            paced=paced, seed=session.pk if seed is None else seed,
        )  # fmt: skip


def requeue(job: AcquisitionJob, *, user, reason: str, override_reason: str = "") -> AcquisitionJob:
    """Queue a new job for the session of an interrupted or failed ``job`` (audited).

    The old job stays as it is (it ran, at most once); the new one points back at it.
    """
    if not reason.strip():
        raise AcquisitionRefused("Give a reason to re-queue this scan.", "reason")
    with transaction.atomic(), audit_context(user=user, source="api", reason=reason.strip()):
        job = AcquisitionJob.objects.select_for_update().get(pk=job.pk)
        if job.state not in (AcquisitionState.INTERRUPTED, AcquisitionState.FAILED):
            raise AcquisitionRefused(f"A {job.state} acquisition cannot be re-queued.", "state")
        if AcquisitionJob.objects.filter(requeue_of=job).exists():
            raise AcquisitionRefused("This acquisition was already re-queued.", "state")
        return _queue_job(
            job.session, job.protocol, user=user, override_reason=override_reason,
            paced=job.paced, seed=job.seed, requeue_of=job, requeue_reason=reason.strip(),
        )  # fmt: skip


def _queue_job(
    session: ScanSession, protocol: ScanProtocol, *, user, override_reason: str, **fields
) -> AcquisitionJob:
    """Check the request, queue the session and create the job (inside a transaction)."""
    lock_animal(session.animal_id)
    session.refresh_from_db()
    _check_site_and_instrument(session, protocol)
    planned = protocol.nominal_dose_mgy
    check = budget_check(session.animal, session.site, planned)
    override_reason = override_reason.strip()
    if not check.allowed and not override_reason:
        raise DoseBudgetExceeded(check, check.message(session.animal.label, session.site))
    _queue_session(session)
    return AcquisitionJob.objects.create(
        session=session,
        protocol=protocol,
        instrument=protocol.instrument,
        requested_by=user,
        nominal_dose_mgy=planned,
        dose_override_reason="" if check.allowed else override_reason,
        dose_override_by=None if check.allowed else user,
        **fields,
    )


def _flag(job: AcquisitionJob, *, user, reason: str, states, **fields) -> None:
    """Set control flags on a job that is (still) in one of ``states``; audit the change."""
    job.refresh_from_db()
    if job.state not in states:
        raise AcquisitionRefused(f"A {job.state} acquisition cannot do that now.", "state")
    before = {name: getattr(job, name) for name in fields}
    if not AcquisitionJob.objects.filter(pk=job.pk, state__in=states).update(**fields):
        job.refresh_from_db()
        raise AcquisitionRefused(f"The acquisition became {job.state} meanwhile.", "state")
    for name, value in fields.items():
        setattr(job, name, value)
    with audit_context(user=user, source="api", reason=reason):
        record_event(job, "update", {k: [before[k], v] for k, v in fields.items()})


def pause(job: AcquisitionJob, *, user, reason: str = "") -> None:
    """Ask a running scan to pause after its current frame."""
    _flag(job, user=user, reason=reason, states=ACTIVE_STATES, pause_requested=True)


def resume(job: AcquisitionJob, *, user, reason: str = "") -> None:
    """Let a paused (or pause-requested) scan go on."""
    job.refresh_from_db()
    if not job.pause_requested:
        raise AcquisitionRefused("This acquisition is not paused.", "state")
    _flag(job, user=user, reason=reason, states=ACTIVE_STATES, pause_requested=False)


def abort(job: AcquisitionJob, *, user, reason: str = "") -> None:
    """Stop a scan: a queued one at once; a running one after its current frame.

    The partial file is discarded; the dose of the projections taken is booked.
    """
    pending = (AcquisitionState.QUEUED, *ACTIVE_STATES)
    _flag(job, user=user, reason=reason, states=pending, cancel_requested=True)
    with transaction.atomic(), audit_context(user=user, source="api", reason=reason):
        taken = AcquisitionJob.objects.filter(pk=job.pk, state=AcquisitionState.QUEUED).update(
            state=AcquisitionState.CANCELLED,
            progress_message="aborted before it started",
            finished_at=timezone.now(),
        )
        if taken:
            session = ScanSession.objects.select_for_update().get(pk=job.session_id)
            session.transition_to(SessionState.ABORTED)
    job.refresh_from_db()

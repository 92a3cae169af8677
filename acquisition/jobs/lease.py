"""The lease: claiming a queued job at most once, and sweeping jobs whose worker died."""

from __future__ import annotations

import contextlib
import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from studies.audit import audit_context
from studies.datafiles import absolute
from studies.models import ScanSession
from studies.vocabulary import SessionState

from ..models import (
    ACTIVE_STATES,
    AcquisitionJob,
    AcquisitionState,
    DoseKind,
    InstrumentStatus,
    budget_check,
)
from .base import LEASE_S, Outcome, book_dose, lease_expiry, scan_relative_path

log = logging.getLogger(__name__)


def claim(job_id: int, *, owner: str, task_id: str = "", lease_s: float = LEASE_S) -> Outcome:
    """Take the job for this worker (``queued → running``), at most once.

    Returns an :class:`Outcome`: ``state="running"`` when this call won the job; the
    job's current state (and nothing done) when it was not queued any more;
    ``busy=True`` when another scan holds the instrument (try again later).
    Refusals found at the last moment (session moved, instrument unavailable, budget)
    fail the job before any exposure and put the session back to ``planned``.
    """
    job = AcquisitionJob.objects.select_related("session__animal__study", "protocol").get(pk=job_id)
    if job.state != AcquisitionState.QUEUED:
        return Outcome(job.state, f"not queued (it is {job.state}): nothing done")
    refusal = _last_moment_refusal(job)
    if refusal:
        return _refuse(job, refusal)
    now = timezone.now()
    try:
        with transaction.atomic():
            won = AcquisitionJob.objects.filter(
                pk=job_id, state=AcquisitionState.QUEUED, cancel_requested=False
            ).update(
                state=AcquisitionState.RUNNING,
                lease_owner=owner,
                lease_expires_at=lease_expiry(lease_s),
                started_at=now,
                heartbeat_at=now,
                task_id=task_id,
                worker=owner[:200],
                progress_message="starting",
            )
            if not won:
                job.refresh_from_db()
                return Outcome(job.state, f"not queued (it is {job.state}): nothing done")
            session = ScanSession.objects.select_for_update().get(pk=job.session_id)
            session.transition_to(SessionState.ACQUIRING)
    except IntegrityError:
        return Outcome(AcquisitionState.QUEUED, "the instrument is busy", busy=True)
    return Outcome(AcquisitionState.RUNNING, "claimed")


def _last_moment_refusal(job: AcquisitionJob) -> str:
    session = job.session
    if session.state != SessionState.QUEUED:
        return f"the session is {session.state}, not queued"
    if job.instrument.status != InstrumentStatus.AVAILABLE:
        return f"the instrument {job.instrument} is {job.instrument.status}"
    if not session.animal.is_alive:
        return f"{session.animal} is {session.animal.status}"
    check = budget_check(session.animal, session.site, job.nominal_dose_mgy, exclude_job=job.pk)
    if not check.allowed and not job.dose_override_reason:
        return check.message(session.animal.label, session.site)
    return ""


def _refuse(job: AcquisitionJob, message: str) -> Outcome:
    with transaction.atomic():
        refused = AcquisitionJob.objects.filter(pk=job.pk, state=AcquisitionState.QUEUED).update(
            state=AcquisitionState.FAILED,
            error=f"Refused before any exposure: {message}",
            finished_at=timezone.now(),
        )
        if refused:
            session = ScanSession.objects.select_for_update().get(pk=job.session_id)
            if session.state == SessionState.QUEUED:
                session.transition_to(SessionState.PLANNED)
    job.refresh_from_db()
    return Outcome(job.state, message)


def sweep_expired_leases(*, now=None) -> list[int]:
    """Mark running jobs whose lease expired as ``interrupted`` (their worker died).

    Books the dose of the projections last reported (a worker reports each projection
    as it lands, so that is every projection it exposed but the one in flight) at the
    instant the interruption is recorded, in the same transaction; moves the session to
    ``interrupted`` and removes the scan's temporary file.  Returns the job ids swept.
    Only a person re-queues such a scan (:func:`requeue`).
    """
    now = now or timezone.now()
    swept = []
    candidates = AcquisitionJob.objects.filter(
        state__in=ACTIVE_STATES, lease_expires_at__lt=now
    ).values_list("pk", flat=True)
    for pk in list(candidates):
        with transaction.atomic(), audit_context(source="task", reason="lease expired"):
            job = (
                AcquisitionJob.objects.select_for_update()
                .filter(pk=pk, state__in=ACTIVE_STATES, lease_expires_at__lt=now)
                .select_related("session__animal", "protocol")
                .first()
            )
            if job is None:
                continue
            message = (
                f"interrupted: worker {job.lease_owner} stopped renewing its lease "
                f"(last heartbeat {job.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC)"
            )
            AcquisitionJob.objects.filter(pk=pk).update(
                state=AcquisitionState.INTERRUPTED,
                error=message,
                progress_message="interrupted",
                finished_at=now,
                lease_expires_at=None,
            )
            book_dose(
                job,
                job.projections_done,
                DoseKind.PARTIAL,
                f"{job.projections_done} of {job.protocol.n_projections} projections "
                "(interrupted; as last reported)",
                booked_at=now,
            )
            session = ScanSession.objects.select_for_update().get(pk=job.session_id)
            session.transition_to(SessionState.INTERRUPTED)
        _remove_temporary_files(job)
        swept.append(pk)
        log.warning("acquisition %s: %s", pk, message)
    return swept


def _remove_temporary_files(job: AcquisitionJob) -> None:
    """Delete the partial file a dead worker left (never a file with the final name)."""
    final = absolute(scan_relative_path(job))
    if not final.parent.exists():
        return
    for leftover in final.parent.glob(f".{final.name}*"):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()

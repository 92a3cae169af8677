"""The stale-job sweep: re-queue idempotent jobs whose worker died, re-send forgotten ones.

Reconstructions and analyses are idempotent (``docs/architecture.md``), so a job whose
worker died can simply run again:

- **stale**: ``running`` with no heartbeat for the job kind's ``STALE_AFTER``
  (``recon.jobs``, ``analysis.jobs``).  The sweep puts it back to ``queued`` (one
  conditional UPDATE, so a worker that wakes up meanwhile and a second sweep cannot
  both win) and sends its task again; the next worker claims it as any queued job.
  A slab-parallel reconstruction is left alone: its slab tasks are acknowledged late,
  so the broker hands a dead worker's slab to another worker.
- **forgotten**: ``queued`` and not claimed for :data:`RESEND_QUEUED_AFTER` since it
  was created or last sent (the broker was down when it was created, or the message
  was lost).  Its task is sent again; ``heartbeat_at`` of a queued job records when
  the sweep last sent it, so a long but healthy queue gets one extra message per
  period at most.  Duplicate messages are harmless: the claim takes a job once.

Each re-queue and re-send is written to the audit trail with its reason.  Acquisitions
are not re-run (they irradiate an animal): the lease sweep marks them ``interrupted``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from analysis import jobs as analysis_jobs
from analysis.models import AnalysisJob
from recon import jobs as recon_jobs
from recon.models import Reconstruction
from studies.audit import audit_context, record_event
from studies.jobs import TrackedJob
from studies.vocabulary import JobState

log = logging.getLogger(__name__)

RESEND_QUEUED_AFTER = dt.timedelta(minutes=30)
"""A queued job nobody claimed for this long has its task sent again."""


@dataclass(frozen=True)
class JobKind:
    """One kind of idempotent job: its model, staleness limit, which rows may be re-queued,
    and how to send its task."""

    name: str
    model: type[TrackedJob]
    stale_after: dt.timedelta
    requeueable: Q
    send: Callable[[int], object]


def _send_reconstruction(pk: int) -> object:
    from recon.tasks import reconstruct

    return reconstruct.delay(pk)


def _send_analysis(pk: int) -> object:
    from analysis.tasks import analyse

    return analyse.delay(pk)


JOB_KINDS: tuple[JobKind, ...] = (
    JobKind(
        "reconstruction", Reconstruction, recon_jobs.STALE_AFTER, Q(n_slabs=1),
        _send_reconstruction,
    ),
    JobKind("analysis", AnalysisJob, analysis_jobs.STALE_AFTER, Q(), _send_analysis),
)  # fmt: skip


def _requeue_stale(kind: JobKind, now: dt.datetime) -> list[int]:
    """Put the kind's stale running jobs back to ``queued`` (audited); return their ids."""
    stale = Q(
        state=JobState.RUNNING, heartbeat_at__lt=now - kind.stale_after, cancel_requested=False
    )
    requeued = []
    for job in kind.model.objects.filter(stale & kind.requeueable).order_by("pk"):
        reason = (
            f"stale-job sweep: worker {job.worker or '?'} sent no heartbeat since "
            f"{job.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC (limit {kind.stale_after})"
        )
        with transaction.atomic(), audit_context(source="task", reason=reason):
            taken = kind.model.objects.filter(stale & kind.requeueable, pk=job.pk).update(
                state=JobState.QUEUED,
                heartbeat_at=now,
                progress_message="re-queued: its worker was lost",
            )
            if taken:
                record_event(job, "update", {"state": [JobState.RUNNING, JobState.QUEUED]})
                requeued.append(job.pk)
                transaction.on_commit(lambda pk=job.pk: kind.send(pk), robust=True)
        if taken:
            log.warning("%s %s: %s; re-queued", kind.name, job.pk, reason)
    return requeued


def _resend_forgotten(kind: JobKind, now: dt.datetime, exclude: list[int]) -> list[int]:
    """Send the task again for the kind's queued jobs left unclaimed; return their ids."""
    limit = now - RESEND_QUEUED_AFTER
    forgotten = Q(state=JobState.QUEUED, cancel_requested=False, last_sent__lt=limit)
    rows = kind.model.objects.annotate(last_sent=Coalesce("heartbeat_at", "created_at"))
    resent = []
    for job in rows.filter(forgotten).exclude(pk__in=exclude).order_by("pk"):
        reason = (
            f"stale-job sweep: queued and unclaimed since {job.last_sent:%Y-%m-%d %H:%M:%S} UTC"
        )
        with transaction.atomic(), audit_context(source="task", reason=reason):
            taken = rows.filter(forgotten, pk=job.pk).update(heartbeat_at=now)
            if taken:
                sent = [job.heartbeat_at.isoformat() if job.heartbeat_at else None, now.isoformat()]
                record_event(job, "update", {"heartbeat_at": sent})
                resent.append(job.pk)
                transaction.on_commit(lambda pk=job.pk: kind.send(pk), robust=True)
        if taken:
            log.warning("%s %s: %s; task sent again", kind.name, job.pk, reason)
    return resent


def sweep_stale_jobs(*, now: dt.datetime | None = None) -> dict[str, dict[str, list[int]]]:
    """Re-queue stale reconstructions and analyses and re-send forgotten queued ones.

    Parameters
    ----------
    now : datetime, optional
        The sweep's clock (aware); defaults to the current time.

    Returns
    -------
    dict
        ``{kind: {"requeued": [ids], "resent": [ids]}}`` for ``reconstruction`` and
        ``analysis``.
    """
    now = now or timezone.now()
    if timezone.is_naive(now):
        raise ValueError("now must be an aware datetime")
    summary = {}
    for kind in JOB_KINDS:
        requeued = _requeue_stale(kind, now)
        summary[kind.name] = {
            "requeued": requeued,
            "resent": _resend_forgotten(kind, now, requeued),
        }
    return summary

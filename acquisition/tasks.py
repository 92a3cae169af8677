"""Celery tasks of the acquisition app.

``run_acquisition`` runs on the ``instrument`` queue (one worker with concurrency 1 per
instrument).  It is deliberately *not* ``acks_late``, so a prefork worker acknowledges
the message as it starts the scan.  That alone is not relied on: a solo-pool worker
acknowledges only after the task returns, and any broker may deliver a message twice.
At-most-once lives in the job record (``acquisition/jobs.py``): a re-delivered or
duplicated message finds its job no longer queued and does nothing
(``tests/acquisition/test_jobs_worker.py`` kills a worker mid-scan and re-delivers).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket

from celery import shared_task

from . import jobs, planning

log = logging.getLogger(__name__)

#: Seconds before a job that found its instrument busy tries again.
BUSY_RETRY_S = 10


def lease_owner(task_id: str) -> str:
    """A name unique to this delivery: host, process and task id."""
    return f"{socket.gethostname()}:{os.getpid()}:{task_id}"


@shared_task(bind=True, acks_late=False, reject_on_worker_lost=False, max_retries=None)
def run_acquisition(self, job_id: int) -> str:
    """Run acquisition job ``job_id`` if it is still queued; otherwise do nothing."""
    task_id = self.request.id or ""
    outcome = jobs.execute(job_id, owner=lease_owner(task_id), task_id=task_id)
    if outcome.busy:
        raise self.retry(countdown=BUSY_RETRY_S)
    log.info("acquisition %s: %s (%s)", job_id, outcome.state, outcome.message)
    return outcome.state


@shared_task
def sweep_acquisition_leases() -> list[int]:
    """Mark scans whose worker died as interrupted (schedule every minute or so).

    Route it to the ``default`` queue (not ``instrument``), so it runs while the
    instrument worker is busy or dead.
    """
    return jobs.sweep_expired_leases()


@shared_task(acks_late=True)
def queue_planned_sessions(date: str | None = None) -> dict:
    """Scheduled: queue due plan sessions on free instruments; flag over-budget ones.

    Routed to the ``default`` queue: it only books jobs, the instrument worker runs them.
    ``date`` is an ISO day (default: today).
    """
    summary = planning.queue_planned_sessions(dt.date.fromisoformat(date) if date else None)
    log.info("plan queueing: %s", summary)
    return summary

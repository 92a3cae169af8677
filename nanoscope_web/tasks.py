"""Project-wide tasks (queue ``default``): the health ping and the cross-app scheduled checks.

The integrity check (:mod:`nanoscope_web.integrity`) and the stale-job sweep
(:mod:`nanoscope_web.stale_jobs`) live here because they read every app's records.

Diagnostic task: prove that a queue's worker is alive, has the code and the data root.

``health_ping`` is sent to one queue explicitly (``apply_async(queue=...)``); the worker
that takes it writes ``.health/<queue>.json`` under the data root (atomically) with its
host name and the token it was given, and returns the same record.  Deployment checks
(``tests/ops/test_compose.py``; by hand: ``celery -A nanoscope_web call
nanoscope_web.tasks.health_ping --queue cpu --args '["cpu", "t1"]'``) read it back.
"""

from __future__ import annotations

import json
import logging
import os
import socket

from celery import current_task, shared_task
from django.utils import timezone

from studies.audit import audit_context
from studies.datafiles import atomic_output

from . import integrity, stale_jobs

log = logging.getLogger(__name__)

HEALTH_FOLDER = ".health"


@shared_task(name="nanoscope_web.tasks.health_ping")
def health_ping(queue: str, token: str) -> dict:
    """Record that this worker took a ping from ``queue``; return the record.

    Parameters
    ----------
    queue : str
        The queue the ping was sent to (names the file, ``[a-z]+``).
    token : str
        An opaque value the sender checks for in the record.
    """
    if not queue.isalpha():
        raise ValueError(f"queue must be letters only, got {queue!r}")
    record = {
        "queue": queue,
        "token": token,
        "worker": getattr(current_task.request, "hostname", "") or socket.gethostname(),
        "pid": os.getpid(),
        "at": timezone.now().isoformat(),
    }
    with atomic_output(f"{HEALTH_FOLDER}/{queue}.json") as temporary:
        temporary.write_text(json.dumps(record))
    return record


@shared_task(name="nanoscope_web.tasks.check_integrity", acks_late=True)
def check_integrity() -> dict:
    """Scheduled (nightly): every data file's sha256 against the database; flag bad ones."""
    with audit_context(source="task", reason="scheduled integrity check"):
        summary = integrity.check_integrity()
    log.info("integrity check: %s", summary)
    return summary


@shared_task(name="nanoscope_web.tasks.sweep_stale_jobs", acks_late=True)
def sweep_stale_jobs() -> dict:
    """Scheduled: re-queue reconstructions and analyses whose worker died; re-send lost ones."""
    summary = stale_jobs.sweep_stale_jobs()
    log.info("stale-job sweep: %s", summary)
    return summary

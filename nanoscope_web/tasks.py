"""Diagnostic tasks: prove that a queue's worker is alive, has the code and the data root.

``health_ping`` is sent to one queue explicitly (``apply_async(queue=...)``); the worker
that takes it writes ``.health/<queue>.json`` under the data root (atomically) with its
host name and the token it was given, and returns the same record.  Deployment checks
(``tests/ops/test_compose.py``; by hand: ``celery -A nanoscope_web call
nanoscope_web.tasks.health_ping --queue cpu --args '["cpu", "t1"]'``) read it back.
"""

from __future__ import annotations

import json
import os
import socket

from celery import current_task, shared_task
from django.utils import timezone

from studies.datafiles import atomic_output

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

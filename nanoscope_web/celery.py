"""The Celery application: queues, routing by task module, and reliability settings.

Queues (DESIGN.md): ``instrument`` (acquisitions, one at a time per instrument),
``gpu`` (reconstructions), ``cpu`` (analysis), ``default`` (light work).
"""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nanoscope_web.settings")

QUEUES = ("instrument", "gpu", "cpu", "default")

#: Tasks are routed by the module that defines them.
TASK_ROUTES = {
    # The lease sweep must run while the instrument worker is busy or dead.
    "acquisition.tasks.sweep_acquisition_leases": {"queue": "default"},
    # Plan queueing only books jobs; the instrument worker runs them.
    "acquisition.tasks.queue_planned_sessions": {"queue": "default"},
    "nanoscope_web.tasks.check_integrity": {"queue": "default"},
    "nanoscope_web.tasks.sweep_stale_jobs": {"queue": "default"},
    "acquisition.tasks.*": {"queue": "instrument"},
    "recon.tasks.*": {"queue": "gpu"},
    "analysis.tasks.*": {"queue": "cpu"},
    "frontend.tasks.*": {"queue": "cpu"},
    "studies.tasks.*": {"queue": "default"},
}

app = Celery("nanoscope")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_queues=[Queue(name) for name in QUEUES],
    task_default_queue="default",
    task_routes=TASK_ROUTES,
    # Long tasks: take one message at a time, so a busy worker does not hoard the queue.
    worker_prefetch_multiplier=1,
    task_acks_late=False,  # opted into per task, only where a task is idempotent
    task_reject_on_worker_lost=False,
    task_track_started=True,
    task_serializer="json",
    accept_content=["json"],
    result_backend=None,
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
app.autodiscover_tasks()


def ensure_broker_folders() -> None:
    """Create the folders of the file-system broker (embedded mode) if it is in use."""
    options = app.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if key in options:
            Path(options[key]).mkdir(parents=True, exist_ok=True)

"""Celery tasks of the studies app (queue ``default``)."""

from __future__ import annotations

import datetime as dt
import logging
import socket

from celery import shared_task

from .audit import audit_context
from .datafiles import absolute, atomic_output, sha256_of
from .dosing_due import check_dosing as check_dosing_due
from .exporting import export_relative_path, write_study_export
from .jobs import JobCancelled
from .models import StudyExport
from .scan_plans import run_scan_plans as run_plans
from .vocabulary import JobState
from .welfare import check_welfare as check_welfare_flags

log = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def export_study(self, export_id: int) -> str:
    """Write a study export zip; idempotent (a finished export is left as it is)."""
    export = StudyExport.objects.select_related("study").get(pk=export_id)
    if export.is_finished:
        return export.state
    export.mark_running(task_id=self.request.id or "", worker=socket.gethostname())
    relative = export_relative_path(export)
    try:
        with (
            audit_context(user=export.requested_by, source="task"),
            atomic_output(relative) as temporary,
        ):
            write_study_export(export.study, temporary, progress=export.report_progress)
    except JobCancelled:
        export.mark_cancelled()
        return JobState.CANCELLED
    except Exception as exc:
        log.exception("export %s failed", export_id)
        export.mark_failed(f"{type(exc).__name__}: {exc}")
        raise
    final = absolute(relative)
    export.mark_done(
        relative_path=str(relative), sha256=sha256_of(final), size_bytes=final.stat().st_size
    )
    return JobState.DONE


def _parse_date(date: str | None) -> dt.date | None:
    return dt.date.fromisoformat(date) if date else None


@shared_task(acks_late=True)
def check_dosing(date: str | None = None) -> dict:
    """Scheduled: flag overdue administrations (``date``: ISO day, default today)."""
    with audit_context(source="task", reason="scheduled dosing check"):
        summary = check_dosing_due(_parse_date(date))
    log.info("dosing check: %s", summary)
    return summary


@shared_task(acks_late=True)
def check_welfare() -> dict:
    """Scheduled: flag weight loss at the studies' warning and humane-endpoint thresholds."""
    with audit_context(source="task", reason="scheduled welfare check"):
        summary = check_welfare_flags()
    log.info("welfare check: %s", summary)
    return summary


@shared_task(acks_late=True)
def run_scan_plans(date: str | None = None) -> dict:
    """Scheduled: create upcoming plan sessions and flag overdue or missed ones."""
    with audit_context(source="task", reason="scheduled scan plans"):
        summary = run_plans(_parse_date(date))
    log.info("scan plans: %s", summary)
    return summary

"""Celery task of the analyses (queue ``cpu``, routed by module in ``nanoscope_web/celery.py``).

Idempotent — the job is claimed by a conditional UPDATE, results and the ``done`` state
are written in one transaction, the remodelling volume appears only when complete — so
it acknowledges late and a message re-delivered after a worker died is safe.
"""

from __future__ import annotations

from celery import shared_task

from . import jobs


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def analyse(self, job_id: int) -> str:
    """Run one analysis job (morphometry, or registration and remodelling)."""
    return jobs.run_analysis(
        job_id, task_id=self.request.id or "", worker=self.request.hostname or ""
    )

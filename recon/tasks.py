"""Celery tasks of reconstruction (queue ``gpu``; a worker without GPU runs the CPU backend).

Both tasks are idempotent — the record is claimed by a conditional UPDATE and the output
appears only when complete — so they acknowledge late and a message re-delivered after a
worker died is safe.  GPU workers run ``--pool solo`` (CUDA is not initialised in a
forked child).
"""

from __future__ import annotations

from celery import shared_task

from . import jobs


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def reconstruct(self, reconstruction_id: int) -> str:
    """Reconstruct one scan (or prepare and fan out its slabs)."""
    return jobs.run_reconstruction(
        reconstruction_id, task_id=self.request.id or "", worker=self.request.hostname or ""
    )


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True)
def reconstruct_slab(self, reconstruction_id: int, index: int) -> str:
    """Reconstruct one z-slab of a slab-parallel reconstruction; the last one assembles."""
    return jobs.run_slab(reconstruction_id, index, worker=self.request.hostname or "")

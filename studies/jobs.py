"""Long-running work as database records: state, progress, heartbeat, cancellation.

Every job (study export here; acquisitions, reconstructions and analyses in their apps)
inherits :class:`TrackedJob`.  The record — not the broker — is the truth about a job:
pages and the API read progress from it, a re-delivered task finds its finished state
and stops, and cancellation is a flag the running task checks between steps.
"""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models import Q
from django.utils import timezone

from .vocabulary import JobState


class JobCancelled(Exception):
    """Raised inside a task when someone asked for its job to stop."""


class TrackedJob(models.Model):
    state = models.CharField(max_length=20, choices=JobState.choices, default=JobState.QUEUED)
    progress = models.FloatField(default=0.0, help_text="Fraction done, 0–1.")
    progress_message = models.CharField(max_length=300, blank=True)
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=100, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_finished(self) -> bool:
        return self.state in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)

    def _update(self, **fields) -> None:
        """Write only the given fields (never clobber what another process wrote)."""
        for name, value in fields.items():
            setattr(self, name, value)
        type(self).objects.filter(pk=self.pk).update(**fields)

    def mark_running(self, *, task_id: str = "", worker: str = "") -> None:
        now = timezone.now()
        self._update(
            state=JobState.RUNNING,
            started_at=now,
            heartbeat_at=now,
            task_id=task_id,
            worker=worker,
            error="",
        )

    def report_progress(self, fraction: float, message: str = "") -> None:
        """Store progress (clamped to 0–1) and a heartbeat; raise if cancel was asked."""
        self._update(
            progress=min(max(float(fraction), 0.0), 1.0),
            progress_message=message[:300],
            heartbeat_at=timezone.now(),
        )
        cancel = type(self).objects.filter(pk=self.pk).values_list("cancel_requested", flat=True)
        if cancel.first():
            raise JobCancelled(f"{self} was cancelled")

    def mark_done(self, message: str = "done", **fields) -> None:
        self._update(
            state=JobState.DONE,
            progress=1.0,
            progress_message=message,
            finished_at=timezone.now(),
            **fields,
        )

    def mark_failed(self, error: str) -> None:
        self._update(state=JobState.FAILED, error=error[:5000], finished_at=timezone.now())

    def mark_cancelled(self) -> None:
        self._update(
            state=JobState.CANCELLED, progress_message="cancelled", finished_at=timezone.now()
        )

    def request_cancel(self) -> None:
        self._update(cancel_requested=True)

    def cancel(self) -> None:
        """Ask the job to stop: a queued one is cancelled now, a running one at its next
        progress report.

        Raises
        ------
        ValueError
            When the job has already finished.
        """
        if self.is_finished:
            raise ValueError(f"{self} has already finished ({self.state})")
        self.request_cancel()
        type(self).objects.filter(pk=self.pk, state=JobState.QUEUED).update(
            state=JobState.CANCELLED, progress_message="cancelled", finished_at=timezone.now()
        )

    @classmethod
    def claim(
        cls,
        pk: int,
        *,
        task_id: str = "",
        worker: str = "",
        stale_after: dt.timedelta | None = None,
        stale_also: Q | None = None,
    ) -> bool:
        """Take job ``pk`` for this worker by one conditional UPDATE; True if taken.

        A queued job is claimable; so is a running one whose heartbeat is older than
        ``stale_after`` (its worker died) and that matches ``stale_also``.  A cancelled,
        finished or live running job is not, so a re-delivered message does nothing.
        """
        now = timezone.now()
        claimable = Q(state=JobState.QUEUED, cancel_requested=False)
        if stale_after is not None:
            claimable |= Q(
                state=JobState.RUNNING, heartbeat_at__lt=now - stale_after, cancel_requested=False
            ) & (stale_also or Q())
        taken = cls.objects.filter(claimable, pk=pk).update(
            state=JobState.RUNNING,
            started_at=now,
            heartbeat_at=now,
            task_id=task_id,
            worker=worker,
            error="",
        )
        return bool(taken)

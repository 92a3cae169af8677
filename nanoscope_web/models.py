"""Records of the project-wide scheduled checks (the ones that span every app)."""

from __future__ import annotations

from django.db import models


class IntegrityCheck(models.Model):
    """One run of the integrity check (``nanoscope_web/integrity.py``): when, and its counts.

    The problems themselves are ``data-integrity`` flags on their studies; this record
    shows that the check ran and how many files it read, so a run that found nothing
    is visible too.
    """

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    checked = models.PositiveIntegerField(help_text="Files read and hashed.")
    intact = models.PositiveIntegerField()
    missing = models.PositiveIntegerField()
    altered = models.PositiveIntegerField(help_text="Files whose sha256 differs from the record.")
    raised = models.PositiveIntegerField(help_text="Flags raised by this run.")
    reopened = models.PositiveIntegerField(help_text="Resolved flags this run opened again.")
    resolved = models.PositiveIntegerField(
        help_text="Acknowledged flags whose file is whole again."
    )

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return (
            f"integrity check {self.started_at:%Y-%m-%d %H:%M}: {self.checked} files, "
            f"{self.missing} missing, {self.altered} altered"
        )

    @property
    def problems(self) -> int:
        """Files missing or altered."""
        return self.missing + self.altered

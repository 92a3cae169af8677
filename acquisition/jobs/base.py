"""What the acquisition-job modules share: settings, errors, outcome, paths, dose booking."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from django.utils import timezone

from studies.vocabulary import SessionState

from .. import dose
from ..models import AcquisitionJob, DoseKind, DoseRecord, session_folder
from ..phantom import truth_path_for

#: Seconds a lease lasts without renewal (a frame must arrive well within it).
LEASE_S = 120.0
#: Least seconds between two progress writes / flag reads during a scan.
CONTROL_INTERVAL_S = 0.25
#: Seconds between two looks at the record while paused.
PAUSE_POLL_S = 0.2
#: Session states after a scan was taken (a previous time point of the phantom).
SCANNED_STATES = (SessionState.ACQUIRED, SessionState.RECONSTRUCTED, SessionState.ANALYSED)


class AcquisitionRefused(ValueError):
    """A scan request that cannot go ahead; ``field`` names the offending input."""

    def __init__(self, message: str, field: str = "non_field_errors"):
        super().__init__(message)
        self.field = field


class DoseBudgetExceeded(AcquisitionRefused):
    """The scan would take the animal past its study's dose budget at the site."""

    def __init__(self, check: dose.BudgetCheck, message: str):
        super().__init__(message, field="dose")
        self.check = check


class LeaseLost(RuntimeError):
    """This worker no longer owns the job (it was presumed dead and swept)."""


class Aborted(Exception):
    """Someone asked the running scan to stop."""


class ScanWriter(Protocol):
    """What the job needs of a scan file writer (``acquisition.formats.NXtomoWriter``)."""

    frames_written: int

    def __enter__(self) -> ScanWriter: ...

    def __exit__(self, *exc: object) -> Any: ...

    def append(self, frame: Any) -> None: ...

    def commit(self) -> Any: ...

    def discard(self) -> None: ...


WriterFactory = Callable[..., ScanWriter]


@dataclass(frozen=True)
class Outcome:
    """How one run of :func:`execute` ended (``state`` is the job's state afterwards)."""

    state: str
    message: str = ""
    busy: bool = False


def lease_expiry(lease_s: float) -> datetime:
    """When a lease taken or renewed now runs out."""
    return timezone.now() + timedelta(seconds=lease_s)


def scan_relative_path(job: AcquisitionJob) -> Path:
    """``study-<id>/animal-<id>/session-<id>/scan-<job id>.nxs`` under the data root."""
    return session_folder(job.session) / f"scan-{job.pk}.nxs"


def truth_relative_path(scan_relative: Path) -> Path:
    """The ground-truth sibling of a scan file: ``<scan>.truth.h5`` (conventions.md)."""
    return truth_path_for(scan_relative)


def book_dose(
    job: AcquisitionJob,
    projections: int,
    kind: str,
    note: str = "",
    *,
    booked_at: datetime | None = None,
) -> None:
    """Book the dose of ``projections`` delivered by ``job`` in the ledger (at most once).

    ``booked_at`` is when the scan ended (by default now): the sweep books an interrupted
    scan at the instant it records the interruption.
    """
    if projections <= 0 or DoseRecord.objects.filter(job=job).exists():
        return
    n_projections = job.protocol.n_projections
    projections = min(projections, n_projections)
    DoseRecord.objects.create(
        animal=job.session.animal,
        site=job.session.site,
        dose_mgy=dose.partial_dose_mgy(job.nominal_dose_mgy, projections, n_projections),
        kind=kind,
        job=job,
        projections_delivered=projections,
        note=note[:300],
        booked_at=booked_at or timezone.now(),
    )


def true_up_dose(job: AcquisitionJob, projections: int, note: str) -> None:
    """Raise ``job``'s booking to the ``projections`` it really exposed (never lowers it).

    For a worker that finds its lease swept while it was still exposing: the sweep booked
    the count last reported, the worker knows the frames that came after.  The change is
    an audited update of the one ledger entry of the job (or its first booking).
    """
    projections = min(projections, job.protocol.n_projections)
    record = DoseRecord.objects.select_for_update().filter(job=job).first()
    if record is None:
        book_dose(job, projections, DoseKind.PARTIAL, note)
        return
    if record.projections_delivered is None or record.projections_delivered >= projections:
        return
    record.projections_delivered = projections
    record.dose_mgy = dose.partial_dose_mgy(
        job.nominal_dose_mgy, projections, job.protocol.n_projections
    )
    record.note = note[:300]
    record.save(update_fields=["projections_delivered", "dose_mgy", "note"])

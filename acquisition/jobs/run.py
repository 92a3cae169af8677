"""Running a claimed scan: driver → writer, progress and lease, pause/abort, the outcome."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from studies.audit import audit_context, audit_reason
from studies.datafiles import absolute, sha256_of
from studies.models import ScanSession
from studies.vocabulary import SessionState

from ..drivers.base import FrameType, XrayMicroscope, n_scan_frames, scan_frames
from ..models import (
    ACTIVE_STATES,
    AcquisitionJob,
    AcquisitionState,
    DoseKind,
    Scan,
    ScanFormat,
    ScanSource,
    geometry_record,
)
from ..phantom import GroundTruth, attenuation_per_cm, write_truth
from .base import (
    CONTROL_INTERVAL_S,
    LEASE_S,
    PAUSE_POLL_S,
    Aborted,
    LeaseLost,
    Outcome,
    ScanWriter,
    WriterFactory,
    book_dose,
    lease_expiry,
    scan_relative_path,
    true_up_dose,
    truth_relative_path,
)
from .lease import claim
from .specimen import specimen_truth

log = logging.getLogger(__name__)


class _Tracker:
    """Counts frames, writes progress and renews the lease, reads the control flags."""

    def __init__(self, job, *, owner, lease_s, interval_s, clock=time.monotonic):
        self.job, self.owner, self.lease_s, self.interval_s = job, owner, lease_s, interval_s
        self.clock = clock
        self.frames_total = job.frames_total
        self.frames = self.projections = 0
        self.active_s = 0.0
        self._segment_start: float | None = None
        self._last_write = -float("inf")

    def _rate(self) -> float | None:
        elapsed = self.active_s + (
            self.clock() - self._segment_start if self._segment_start is not None else 0.0
        )
        return self.frames / elapsed if elapsed > 0 and self.frames else None

    def start_segment(self) -> None:
        self._segment_start = self.clock()

    def stop_segment(self) -> None:
        if self._segment_start is not None:
            self.active_s += self.clock() - self._segment_start
            self._segment_start = None

    def count(self, kind: FrameType) -> None:
        self.frames += 1
        if kind == FrameType.PROJECTION:
            self.projections += 1

    def due(self) -> bool:
        return self.clock() - self._last_write >= self.interval_s

    def write(self, **extra) -> tuple[bool, bool]:
        """Store progress, renew the lease; return (cancel_requested, pause_requested)."""
        self._last_write = self.clock()
        rate = self._rate()
        fraction = self.frames / self.frames_total if self.frames_total else 0.0
        rate_text = f" at {rate:.1f} frames/s" if rate else ""
        fields = {
            "frames_done": self.frames,
            "projections_done": self.projections,
            "progress": min(fraction, 1.0),
            "progress_message": f"{self.frames}/{self.frames_total} frames{rate_text}",
            "frame_rate_achieved_hz": rate,
            "heartbeat_at": timezone.now(),
            "lease_expires_at": lease_expiry(self.lease_s),
            **extra,
        }
        owned = AcquisitionJob.objects.filter(
            pk=self.job.pk, lease_owner=self.owner, state__in=ACTIVE_STATES
        )
        if not owned.update(**fields):
            raise LeaseLost(f"{self.job} is no longer owned by {self.owner}")
        flags = owned.values_list("cancel_requested", "pause_requested").first()
        if flags is None:
            raise LeaseLost(f"{self.job} is no longer owned by {self.owner}")
        return flags


def _wait_while_paused(tracker: _Tracker, sleep: Callable[[float], None]) -> None:
    """Hold the scan between frames until resumed; raise :class:`Aborted` if aborted."""
    tracker.stop_segment()
    tracker.write(state=AcquisitionState.PAUSED)
    while True:
        sleep(PAUSE_POLL_S)
        cancel, paused = tracker.write()
        if cancel:
            raise Aborted
        if not paused:
            tracker.write(state=AcquisitionState.RUNNING)
            tracker.start_segment()
            return


def _stream(
    frames: Iterator[Any],
    writer: ScanWriter,
    tracker: _Tracker,
    sleep: Callable[[float], None],
) -> None:
    tracker.start_segment()
    for frame in frames:
        writer.append(frame)
        tracker.count(frame.kind)
        # Every projection is recorded as it lands (it irradiated the animal): if this
        # worker dies, the sweep books the dose of all it exposed, not of the last
        # throttled report.  Darks and flats (no dose) wait for the control interval.
        exposed = frame.kind == FrameType.PROJECTION
        if exposed or tracker.due() or tracker.frames == tracker.frames_total:
            cancel, paused = tracker.write()
            if cancel:
                raise Aborted
            if paused:
                _wait_while_paused(tracker, sleep)
    tracker.stop_segment()


def _write_ground_truth(truth: GroundTruth | None, scan_relative: Path) -> tuple[str, str]:
    """Store the simulated specimen's ground truth beside the scan (never inside it)."""
    if truth is None:
        return "", ""
    relative = truth_relative_path(scan_relative)
    path = write_truth(absolute(relative), truth)
    return str(relative), sha256_of(path)


def _finish(job: AcquisitionJob, owner: str, state: str, session_state: str, **fields) -> bool:
    """Move an owned job to a final state with its session; False if the lease was lost."""
    ended = AcquisitionJob.objects.filter(
        pk=job.pk, lease_owner=owner, state__in=ACTIVE_STATES
    ).update(state=state, finished_at=timezone.now(), lease_expires_at=None, **fields)
    if not ended:
        return False
    session = ScanSession.objects.select_for_update().get(pk=job.session_id)
    if session.state == SessionState.ACQUIRING:
        session.transition_to(session_state)
    else:  # someone moved the session by hand meanwhile; the job's record still tells
        log.warning("%s ended as %s with its session %s", job, state, session.state)
    return True


def _complete(job, owner, driver, writer, tracker, relative: Path, truth) -> Outcome:
    with transaction.atomic():
        locked = AcquisitionJob.objects.select_for_update().get(pk=job.pk)
        if locked.lease_owner != owner or locked.state not in ACTIVE_STATES:
            raise LeaseLost(f"{job} is no longer owned by {owner}")
        written = writer.commit()
        final = Path(written.path)
        try:
            truth_path, truth_sha = _write_ground_truth(truth, relative)
            geometry = driver.geometry()
            Scan.objects.create(
                session=job.session,
                job=job,
                source=ScanSource.ACQUIRED,
                format=ScanFormat.NXTOMO,
                relative_path=str(relative),
                sha256=written.sha256,
                size_bytes=final.stat().st_size,
                n_frames=written.n_frames,
                n_projections=tracker.projections,
                frame_shape=[geometry.n_rows, geometry.n_cols],
                geometry=geometry_record(geometry),
                truth_relative_path=truth_path,
                truth_sha256=truth_sha,
                created_by=job.requested_by,
            )
            book_dose(job, tracker.projections, DoseKind.FULL)
            _finish(
                job,
                owner,
                AcquisitionState.DONE,
                SessionState.ACQUIRED,
                progress=1.0,
                progress_message=f"{tracker.frames} frames written",
                frames_done=tracker.frames,
                projections_done=tracker.projections,
            )
        except BaseException:
            _remove(final, truth_relative_path(relative))
            raise
    return Outcome(AcquisitionState.DONE, str(relative))


def _remove(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError, ValueError):
            (path if path.is_absolute() else absolute(path)).unlink()


def _stop(job, owner, tracker, state: str, session_state: str, message: str) -> Outcome:
    """End a scan that did not complete: book its partial dose, keep no file.

    When the job had already ended (it completed and only something after the commit
    failed, or the sweeper took it), its stored state is the outcome.
    """
    kind_note = f"{tracker.projections} of {job.protocol.n_projections} projections ({state})"
    with transaction.atomic():
        fields = {
            "frames_done": tracker.frames,
            "projections_done": tracker.projections,
            "progress_message": message[:300],
        }
        if state == AcquisitionState.FAILED:
            fields["error"] = message[:5000]
        if _finish(job, owner, state, session_state, **fields):
            book_dose(job, tracker.projections, DoseKind.PARTIAL, kind_note)
            return Outcome(state, message)
    stored = AcquisitionJob.objects.values_list("state", flat=True).get(pk=job.pk)
    return Outcome(stored, f"already {stored}; afterwards: {message}")


def execute(
    job_id: int,
    *,
    owner: str,
    task_id: str = "",
    driver: XrayMicroscope | None = None,
    writer_factory: WriterFactory | None = None,
    lease_s: float = LEASE_S,
    control_interval_s: float = CONTROL_INTERVAL_S,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Run acquisition job ``job_id`` if this call wins it; otherwise do nothing.

    Parameters
    ----------
    job_id : int
        The :class:`AcquisitionJob`.
    owner : str
        This worker's lease owner (host, process and task, unique per delivery).
    driver : XrayMicroscope, optional
        The instrument driver; by default the instrument's own (``make_driver``).
    writer_factory : callable, optional
        Makes the scan writer (``NXtomoWriter``'s signature); by default NXtomoWriter.
    lease_s, control_interval_s : float
        Lease length and the least time between progress writes (seconds).
    sleep : callable
        How to wait while paused (tests pass their own).

    Returns
    -------
    Outcome
        The job's state after this call, a message, and whether the instrument was busy.
    """
    claimed = claim(job_id, owner=owner, task_id=task_id, lease_s=lease_s)
    if claimed.state != AcquisitionState.RUNNING:
        return claimed
    job = AcquisitionJob.objects.select_related(
        "session__animal__study", "protocol", "instrument", "requested_by"
    ).get(pk=job_id)
    with audit_context(user=job.requested_by, source="task"):
        return _run(job, owner, driver, writer_factory, lease_s, control_interval_s, sleep)


def _run(job, owner, driver, writer_factory, lease_s, control_interval_s, sleep) -> Outcome:
    settings = job.protocol.acquisition_settings(seed=job.seed, paced=job.paced)
    relative = scan_relative_path(job)
    tracker = _Tracker(job, owner=owner, lease_s=lease_s, interval_s=control_interval_s)
    tracker.frames_total = n_scan_frames(settings)
    writer = None
    try:
        if driver is None:
            driver = job.instrument.make_driver()
        truth = _prepare(driver, job, settings)
        cancel, _ = tracker.write(frames_total=tracker.frames_total)
        if cancel:
            driver.abort()  # the source may be on after prepare: make it safe
            return _stop(
                job, owner, tracker, AcquisitionState.CANCELLED, SessionState.ABORTED,
                "aborted before the first frame",
            )  # fmt: skip
        writer = _open_writer(writer_factory, driver, job, settings, relative)
        with writer:
            frames = scan_frames(driver, settings)
            try:
                _stream(frames, writer, tracker, sleep)
            except Aborted:
                driver.abort()
                writer.discard()
                return _stop(
                    job, owner, tracker, AcquisitionState.CANCELLED, SessionState.ABORTED,
                    f"aborted after {tracker.frames} of {tracker.frames_total} frames",
                )  # fmt: skip
            finally:
                frames.close()
            return _complete(job, owner, driver, writer, tracker, relative, truth)
    except LeaseLost as exc:
        log.error("%s: %s; stopping without keeping anything", job, exc)
        _discard(writer, driver)
        _book_after_sweep(job, tracker.projections)
        return Outcome(AcquisitionState.INTERRUPTED, str(exc))
    except Exception as exc:  # noqa: BLE001 — any failure ends the job as failed
        log.exception("%s failed", job)
        _discard(writer, driver)
        return _stop(
            job, owner, tracker, AcquisitionState.FAILED, SessionState.FAILED,
            f"{type(exc).__name__}: {exc}",
        )  # fmt: skip


def _book_after_sweep(job: AcquisitionJob, projections: int) -> None:
    """The sweep booked what was last reported; book what this worker really exposed."""
    note = (
        f"{projections} of {job.protocol.n_projections} projections (interrupted; "
        "counted by the worker after its lease was swept)"
    )
    with transaction.atomic(), audit_reason(note):
        true_up_dose(job, projections, note)


def _discard(writer, driver) -> None:
    if driver is not None:
        with contextlib.suppress(Exception):
            driver.abort()
    if writer is not None:
        with contextlib.suppress(Exception):
            writer.discard()


def _prepare(driver: XrayMicroscope, job: AcquisitionJob, settings) -> GroundTruth | None:
    """Set the driver up; a simulator is first given the animal's phantom on the scan day.

    Returns the phantom's ground truth for a simulated scan (``None`` for real hardware).
    """
    truth = None
    if callable(getattr(driver, "load_sample", None)):
        config = getattr(driver, "config", {})
        truth = specimen_truth(
            job.session,
            shape=tuple(config.get("phantom_shape", (96, 96, 96))),
            voxel_um=float(config.get("phantom_voxel_um", 10.0)),
        )
        driver.load_sample(attenuation_per_cm(truth.labels, truth.density_mgha_cm3), truth.voxel_um)
    driver.prepare(settings)
    return truth


def _open_writer(writer_factory, driver, job, settings, relative: Path) -> ScanWriter:
    if writer_factory is None:
        from ..formats import NXtomoWriter

        writer_factory = NXtomoWriter
    geometry = driver.geometry()
    path = absolute(relative)
    path.parent.mkdir(parents=True, exist_ok=True)
    return writer_factory(
        path,
        frame_shape=(geometry.n_rows, geometry.n_cols),
        geometry=geometry,
        settings=settings,
        sample_name=f"{job.session.animal.label} {job.session.site}",
    )

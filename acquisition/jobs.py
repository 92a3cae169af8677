"""The life of an acquisition job: request, claim, scan, pause/resume/abort, sweep, re-queue.

At most once
------------
An acquisition irradiates a living animal, so a job must never scan twice, whatever the
broker does (a re-delivered or duplicated message, a retry).  The guarantee lives in the
database, not in the broker:

1. :func:`claim` moves the job ``queued → running`` with one conditional ``UPDATE``
   (``WHERE state = 'queued'``) that also writes a *lease*: the owner (host, process,
   task id) and an expiry.  Only one caller can win it; every later delivery finds the
   job no longer queued and does nothing.  No state ever leads back to ``queued``: a
   person re-queues an interrupted scan as a *new* job (:func:`requeue`).
2. While it scans, the worker renews the lease with every progress write, *conditional
   on still owning it*.  If the worker dies, the lease expires and
   :func:`sweep_expired_leases` marks the job and its session ``interrupted`` and books
   the dose of the projections already taken.  A worker that finds its lease gone (it
   was presumed dead) stops at once and keeps nothing.
3. The Celery task is not ``acks_late``: a message is acknowledged when the worker takes
   it, so a crash does not make the broker hand the scan to another worker.

Progress, pause and abort are cooperative: the job checks its record between frames (at
most every :data:`CONTROL_INTERVAL_S`), so the API only sets flags.
"""

from __future__ import annotations

import contextlib
import logging
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from django.db import IntegrityError, transaction
from django.utils import timezone

from studies.audit import audit_context, record_event
from studies.datafiles import absolute, sha256_of
from studies.models import Animal, InvalidTransition, ScanSession
from studies.vocabulary import SessionState

from . import dose
from .drivers.base import FrameType, XrayMicroscope, n_scan_frames, scan_frames
from .models import (
    ACTIVE_STATES,
    AcquisitionJob,
    AcquisitionState,
    DoseKind,
    DoseRecord,
    InstrumentStatus,
    Scan,
    ScanFormat,
    ScanProtocol,
    ScanSource,
    budget_check,
    geometry_record,
    session_folder,
)
from .phantom import (
    GroundTruth,
    TreatmentSpec,
    attenuation_per_cm,
    ground_truth,
    make_phantom,
    truth_path_for,
    write_truth,
)

log = logging.getLogger(__name__)

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


# --- Requests --------------------------------------------------------------------------


def _check_site_and_instrument(session: ScanSession, protocol: ScanProtocol) -> None:
    if protocol.site != session.site:
        raise AcquisitionRefused(
            f"The protocol is for {protocol.get_site_display()}, the session for "
            f"{session.get_site_display()}.",
            "protocol",
        )
    if protocol.instrument.status != InstrumentStatus.AVAILABLE:
        raise AcquisitionRefused(
            f"The instrument {protocol.instrument} is {protocol.instrument.status}.", "protocol"
        )
    if not session.animal.is_alive:
        raise AcquisitionRefused(
            f"{session.animal} is {session.animal.status}: it cannot be scanned.", "session"
        )


def _lock_animal(session: ScanSession) -> None:
    # Budget checks of one animal run one at a time, so two requests cannot both pass.
    Animal.objects.select_for_update().filter(pk=session.animal_id).first()


def _queue_session(session: ScanSession) -> None:
    try:
        session.transition_to(SessionState.QUEUED)
    except InvalidTransition as exc:
        raise AcquisitionRefused(str(exc), "session") from exc


def request_acquisition(
    session: ScanSession,
    protocol: ScanProtocol,
    *,
    user,
    paced: bool = True,
    seed: int | None = None,
    override_reason: str = "",
) -> AcquisitionJob:
    """Queue a scan of ``session`` with ``protocol`` (the caller sends the task on commit).

    Refused before any exposure when the protocol does not fit the session, the
    instrument is not available, the animal is not alive, the session cannot be queued,
    or the scan would exceed the study's dose budget at the site and no
    ``override_reason`` is given.  Whether ``user`` may override is the caller's rule.

    Raises
    ------
    AcquisitionRefused
        With a message and the name of the field at fault.
    DoseBudgetExceeded
        With the budget figures.
    """
    with transaction.atomic(), audit_context(user=user, source="api", reason=override_reason):
        return _queue_job(
            session, protocol, user=user, override_reason=override_reason,
            paced=paced, seed=session.pk if seed is None else seed,
        )  # fmt: skip


def requeue(job: AcquisitionJob, *, user, reason: str, override_reason: str = "") -> AcquisitionJob:
    """Queue a new job for the session of an interrupted or failed ``job`` (audited).

    The old job stays as it is (it ran, at most once); the new one points back at it.
    """
    if not reason.strip():
        raise AcquisitionRefused("Give a reason to re-queue this scan.", "reason")
    with transaction.atomic(), audit_context(user=user, source="api", reason=reason.strip()):
        job = AcquisitionJob.objects.select_for_update().get(pk=job.pk)
        if job.state not in (AcquisitionState.INTERRUPTED, AcquisitionState.FAILED):
            raise AcquisitionRefused(f"A {job.state} acquisition cannot be re-queued.", "state")
        if AcquisitionJob.objects.filter(requeue_of=job).exists():
            raise AcquisitionRefused("This acquisition was already re-queued.", "state")
        return _queue_job(
            job.session, job.protocol, user=user, override_reason=override_reason,
            paced=job.paced, seed=job.seed, requeue_of=job, requeue_reason=reason.strip(),
        )  # fmt: skip


def _queue_job(
    session: ScanSession, protocol: ScanProtocol, *, user, override_reason: str, **fields
) -> AcquisitionJob:
    """Check the request, queue the session and create the job (inside a transaction)."""
    _lock_animal(session)
    session.refresh_from_db()
    _check_site_and_instrument(session, protocol)
    planned = protocol.nominal_dose_mgy
    check = budget_check(session.animal, session.site, planned)
    override_reason = override_reason.strip()
    if not check.allowed and not override_reason:
        raise DoseBudgetExceeded(check, check.message(session.animal.label, session.site))
    _queue_session(session)
    return AcquisitionJob.objects.create(
        session=session,
        protocol=protocol,
        instrument=protocol.instrument,
        requested_by=user,
        nominal_dose_mgy=planned,
        dose_override_reason="" if check.allowed else override_reason,
        dose_override_by=None if check.allowed else user,
        **fields,
    )


# --- Pause, resume, abort (from the API) ------------------------------------------------


def _flag(job: AcquisitionJob, *, user, reason: str, states, **fields) -> None:
    """Set control flags on a job that is (still) in one of ``states``; audit the change."""
    job.refresh_from_db()
    if job.state not in states:
        raise AcquisitionRefused(f"A {job.state} acquisition cannot do that now.", "state")
    before = {name: getattr(job, name) for name in fields}
    if not AcquisitionJob.objects.filter(pk=job.pk, state__in=states).update(**fields):
        job.refresh_from_db()
        raise AcquisitionRefused(f"The acquisition became {job.state} meanwhile.", "state")
    for name, value in fields.items():
        setattr(job, name, value)
    with audit_context(user=user, source="api", reason=reason):
        record_event(job, "update", {k: [before[k], v] for k, v in fields.items()})


def pause(job: AcquisitionJob, *, user, reason: str = "") -> None:
    """Ask a running scan to pause after its current frame."""
    _flag(job, user=user, reason=reason, states=ACTIVE_STATES, pause_requested=True)


def resume(job: AcquisitionJob, *, user, reason: str = "") -> None:
    """Let a paused (or pause-requested) scan go on."""
    job.refresh_from_db()
    if not job.pause_requested:
        raise AcquisitionRefused("This acquisition is not paused.", "state")
    _flag(job, user=user, reason=reason, states=ACTIVE_STATES, pause_requested=False)


def abort(job: AcquisitionJob, *, user, reason: str = "") -> None:
    """Stop a scan: a queued one at once; a running one after its current frame.

    The partial file is discarded; the dose of the projections taken is booked.
    """
    pending = (AcquisitionState.QUEUED, *ACTIVE_STATES)
    _flag(job, user=user, reason=reason, states=pending, cancel_requested=True)
    with transaction.atomic(), audit_context(user=user, source="api", reason=reason):
        taken = AcquisitionJob.objects.filter(pk=job.pk, state=AcquisitionState.QUEUED).update(
            state=AcquisitionState.CANCELLED,
            progress_message="aborted before it started",
            finished_at=timezone.now(),
        )
        if taken:
            session = ScanSession.objects.select_for_update().get(pk=job.session_id)
            session.transition_to(SessionState.ABORTED)
    job.refresh_from_db()


# --- Claim and lease ----------------------------------------------------------------------


def _lease_expiry(lease_s: float):
    return timezone.now() + timedelta(seconds=lease_s)


def claim(job_id: int, *, owner: str, task_id: str = "", lease_s: float = LEASE_S) -> Outcome:
    """Take the job for this worker (``queued → running``), at most once.

    Returns an :class:`Outcome`: ``state="running"`` when this call won the job; the
    job's current state (and nothing done) when it was not queued any more;
    ``busy=True`` when another scan holds the instrument (try again later).
    Refusals found at the last moment (session moved, instrument unavailable, budget)
    fail the job before any exposure and put the session back to ``planned``.
    """
    job = AcquisitionJob.objects.select_related("session__animal__study", "protocol").get(pk=job_id)
    if job.state != AcquisitionState.QUEUED:
        return Outcome(job.state, f"not queued (it is {job.state}): nothing done")
    refusal = _last_moment_refusal(job)
    if refusal:
        return _refuse(job, refusal)
    now = timezone.now()
    try:
        with transaction.atomic():
            won = AcquisitionJob.objects.filter(
                pk=job_id, state=AcquisitionState.QUEUED, cancel_requested=False
            ).update(
                state=AcquisitionState.RUNNING,
                lease_owner=owner,
                lease_expires_at=_lease_expiry(lease_s),
                started_at=now,
                heartbeat_at=now,
                task_id=task_id,
                worker=owner[:200],
                progress_message="starting",
            )
            if not won:
                job.refresh_from_db()
                return Outcome(job.state, f"not queued (it is {job.state}): nothing done")
            session = ScanSession.objects.select_for_update().get(pk=job.session_id)
            session.transition_to(SessionState.ACQUIRING)
    except IntegrityError:
        return Outcome(AcquisitionState.QUEUED, "the instrument is busy", busy=True)
    return Outcome(AcquisitionState.RUNNING, "claimed")


def _last_moment_refusal(job: AcquisitionJob) -> str:
    session = job.session
    if session.state != SessionState.QUEUED:
        return f"the session is {session.state}, not queued"
    if job.instrument.status != InstrumentStatus.AVAILABLE:
        return f"the instrument {job.instrument} is {job.instrument.status}"
    if not session.animal.is_alive:
        return f"{session.animal} is {session.animal.status}"
    check = budget_check(session.animal, session.site, job.nominal_dose_mgy, exclude_job=job.pk)
    if not check.allowed and not job.dose_override_reason:
        return check.message(session.animal.label, session.site)
    return ""


def _refuse(job: AcquisitionJob, message: str) -> Outcome:
    with transaction.atomic():
        refused = AcquisitionJob.objects.filter(pk=job.pk, state=AcquisitionState.QUEUED).update(
            state=AcquisitionState.FAILED,
            error=f"Refused before any exposure: {message}",
            finished_at=timezone.now(),
        )
        if refused:
            session = ScanSession.objects.select_for_update().get(pk=job.session_id)
            if session.state == SessionState.QUEUED:
                session.transition_to(SessionState.PLANNED)
    job.refresh_from_db()
    return Outcome(job.state, message)


# --- Running a scan ----------------------------------------------------------------------


def scan_relative_path(job: AcquisitionJob) -> Path:
    """``study-<id>/animal-<id>/session-<id>/scan-<job id>.nxs`` under the data root."""
    return session_folder(job.session) / f"scan-{job.pk}.nxs"


def truth_relative_path(scan_relative: Path) -> Path:
    """The ground-truth sibling of a scan file: ``<scan>.truth.h5`` (conventions.md)."""
    return truth_path_for(scan_relative)


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
            "lease_expires_at": _lease_expiry(self.lease_s),
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
        if tracker.due() or tracker.frames == tracker.frames_total:
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


def _book(job: AcquisitionJob, projections: int, kind: str, note: str = "") -> None:
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
    )


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
            _book(job, tracker.projections, DoseKind.FULL)
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
    """End a scan that did not complete: book its partial dose, keep no file."""
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
            _book(job, tracker.projections, DoseKind.PARTIAL, kind_note)
    return Outcome(state, message)


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
        return Outcome(AcquisitionState.INTERRUPTED, str(exc))
    except Exception as exc:  # noqa: BLE001 — any failure ends the job as failed
        log.exception("%s failed", job)
        _discard(writer, driver)
        return _stop(
            job, owner, tracker, AcquisitionState.FAILED, SessionState.FAILED,
            f"{type(exc).__name__}: {exc}",
        )  # fmt: skip


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
        from .formats import NXtomoWriter

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


# --- The simulated specimen ------------------------------------------------------------


def animal_seed(animal: Animal) -> int:
    """The seed of an animal's phantom: stable for the study and the animal's label."""
    return zlib.crc32(f"study-{animal.study_id}/{animal.label}".encode())


def treatment_specs(animal: Animal) -> list[TreatmentSpec]:
    """The animal's treatments (those of its cohort) as the phantom's plain data."""
    if animal.cohort_id is None:
        return []
    return [
        TreatmentSpec(
            kind=t.kind,
            agent=t.agent,
            start_day=t.start_day,
            interval_days=t.interval_days,
            n_administrations=t.n_administrations,
            end_day=t.end_day,
            dose=float(t.dose) if t.dose is not None else None,
            dose_unit=t.dose_unit,
        )
        for t in animal.cohort.treatments.order_by("start_day", "pk")
    ]


def previous_scan_day(session: ScanSession) -> int | None:
    """Study day of the animal's last session at the site scanned before this one."""
    earlier = (
        ScanSession.objects.filter(
            animal=session.animal_id,
            site=session.site,
            planned_at__lt=session.planned_at,
            state__in=SCANNED_STATES,
        )
        .order_by("-planned_at")
        .first()
    )
    if earlier is None:
        return None
    day = earlier.study_day
    return day if day < session.study_day else None


def specimen_truth(session: ScanSession, *, shape: tuple[int, ...], voxel_um: float) -> GroundTruth:
    """The animal's remodelled phantom on the session's study day, with its ground truth.

    The phantom is seeded from the animal (:func:`animal_seed`) and remodelled from its
    treatments up to the session's study day; formed and resorbed bone are counted since
    the previous scanned session at the same site.
    """
    animal = session.animal
    base = make_phantom(session.site, shape=shape, voxel_um=voxel_um, seed=animal_seed(animal))
    return ground_truth(
        base, treatment_specs(animal), session.study_day, previous_day=previous_scan_day(session)
    )


# --- Sweeping expired leases ----------------------------------------------------------------


def sweep_expired_leases(*, now=None) -> list[int]:
    """Mark running jobs whose lease expired as ``interrupted`` (their worker died).

    Books the dose of the projections last reported, moves the session to
    ``interrupted`` and removes the scan's temporary file.  Returns the job ids swept.
    Only a person re-queues such a scan (:func:`requeue`).
    """
    now = now or timezone.now()
    swept = []
    candidates = AcquisitionJob.objects.filter(
        state__in=ACTIVE_STATES, lease_expires_at__lt=now
    ).values_list("pk", flat=True)
    for pk in list(candidates):
        with transaction.atomic(), audit_context(source="task", reason="lease expired"):
            job = (
                AcquisitionJob.objects.select_for_update()
                .filter(pk=pk, state__in=ACTIVE_STATES, lease_expires_at__lt=now)
                .select_related("session__animal", "protocol")
                .first()
            )
            if job is None:
                continue
            message = (
                f"interrupted: worker {job.lease_owner} stopped renewing its lease "
                f"(last heartbeat {job.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC)"
            )
            AcquisitionJob.objects.filter(pk=pk).update(
                state=AcquisitionState.INTERRUPTED,
                error=message,
                progress_message="interrupted",
                finished_at=now,
                lease_expires_at=None,
            )
            _book(
                job,
                job.projections_done,
                DoseKind.PARTIAL,
                f"{job.projections_done} of {job.protocol.n_projections} projections "
                "(interrupted; as last reported)",
            )
            session = ScanSession.objects.select_for_update().get(pk=job.session_id)
            session.transition_to(SessionState.INTERRUPTED)
        _remove_temporary_files(job)
        swept.append(pk)
        log.warning("acquisition %s: %s", pk, message)
    return swept


def _remove_temporary_files(job: AcquisitionJob) -> None:
    """Delete the partial file a dead worker left (never a file with the final name)."""
    final = absolute(scan_relative_path(job))
    if not final.parent.exists():
        return
    for leftover in final.parent.glob(f".{final.name}*"):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()

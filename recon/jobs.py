"""Running reconstructions: start, claim, run (whole or slab-parallel), assemble.

The Celery tasks in :mod:`recon.tasks` are thin wrappers around these functions, which
tests call directly too.  Idempotence lives in the records: a task claims its job (or
slab) by a conditional UPDATE, so a re-delivered or duplicated message finds the work
claimed or finished and returns; output files appear only when complete.  A job whose
worker died (no heartbeat for :data:`STALE_AFTER`) may be claimed again.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import socket
from pathlib import Path

import h5py
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from acquisition.formats import read_scan
from acquisition.models import Scan
from nanoscope_web.version import code_version
from studies.audit import audit_context
from studies.datafiles import absolute
from studies.jobs import JobCancelled
from studies.vocabulary import JobState, SessionState

from . import pipeline
from .engine.backends import get_backend
from .models import Reconstruction, ReconstructionDefaults, ReconstructionSlab, SlabState, Volume

log = logging.getLogger(__name__)

STALE_AFTER = dt.timedelta(minutes=10)
"""A running job without a heartbeat for this long is taken to have lost its worker."""


# -- paths -------------------------------------------------------------------------------


def volume_relative_path(rec: Reconstruction) -> Path:
    """``study-<s>/animal-<a>/session-<n>/recon-<id>.volume.h5``."""
    scan_folder = Path(rec.scan.relative_path).parent
    return scan_folder / f"recon-{rec.pk}.volume.h5"


def work_relative_folder(rec: Reconstruction) -> Path:
    """Scratch folder of a reconstruction (line integrals, slab files); removed when done."""
    return Path(rec.scan.relative_path).parent / f"recon-{rec.pk}.work"


# -- starting ----------------------------------------------------------------------------


def start_reconstruction(
    scan: Scan,
    *,
    parameters: dict | None = None,
    n_slabs: int = 1,
    user=None,
    automatic: bool = False,
) -> Reconstruction:
    """Create a reconstruction record and queue its task once the transaction commits.

    Raises
    ------
    ValueError
        Parameters the pipeline would refuse (unknown keys, bad values).
    """
    params = pipeline.ReconstructionParameters.from_dict(parameters or {})
    rec = Reconstruction.objects.create(
        scan=scan,
        parameters=params.to_dict(),
        n_slabs=n_slabs,
        automatic=automatic,
        requested_by=user,
        code_version=code_version(),
    )
    from .tasks import reconstruct

    transaction.on_commit(lambda: reconstruct.delay(rec.pk), robust=True)
    return rec


def start_automatic_reconstruction(scan: Scan) -> Reconstruction | None:
    """Reconstruct a newly landed scan with its protocol's defaults (unless disabled)."""
    protocol = scan.job.protocol if scan.job_id else None
    defaults = (
        ReconstructionDefaults.objects.filter(protocol=protocol).first() if protocol else None
    )
    if defaults is not None and not defaults.enabled:
        return None
    return start_reconstruction(
        scan,
        parameters=defaults.parameters if defaults else {},
        n_slabs=defaults.n_slabs if defaults else 1,
        automatic=True,
    )


# -- claiming ----------------------------------------------------------------------------


def claim(rec_id: int, *, task_id: str = "", worker: str = "") -> Reconstruction | None:
    """Take a queued (or stale, one-piece) reconstruction for this worker; None if not ours.

    A stale slab-parallel job is not re-claimed: its slabs carry on with other workers.
    """
    if not Reconstruction.claim(
        rec_id, task_id=task_id, worker=worker, stale_after=STALE_AFTER, stale_also=Q(n_slabs=1)
    ):
        return None
    return Reconstruction.objects.select_related(
        "scan__session__animal__study", "scan__job__instrument"
    ).get(pk=rec_id)


def _calibration(rec: Reconstruction) -> pipeline.Calibration | None:
    """The instrument's HA calibration (μ = a + b·ρ), inverted to ρ = (μ − a)/b."""
    job = rec.scan.job
    instrument = job.instrument if job else None
    if instrument is None or not instrument.ha_slope_per_cm_per_mgha:
        return None
    return pipeline.Calibration.from_attenuation_line(
        instrument.ha_intercept_per_cm, instrument.ha_slope_per_cm_per_mgha
    )


def _provenance(rec: Reconstruction) -> dict:
    return {
        "source_scan": rec.scan.relative_path,
        "source_sha256": rec.scan.sha256,
        "reconstruction_id": rec.pk,
        "code_version": rec.code_version or code_version(),
    }


def _progress(rec: Reconstruction):
    return lambda fraction, message: rec.report_progress(fraction, message)


# -- running -----------------------------------------------------------------------------


def run_reconstruction(rec_id: int, *, task_id: str = "", worker: str = "") -> str:
    """Run (or, for slab-parallel jobs, prepare and fan out) one reconstruction.

    Returns the job's state afterwards (``running`` for a fanned-out slab job).
    """
    rec = claim(rec_id, task_id=task_id, worker=worker or socket.gethostname())
    if rec is None:
        return Reconstruction.objects.filter(pk=rec_id).values_list("state", flat=True).first()
    try:
        with audit_context(user=rec.requested_by, source="task"):
            if rec.n_slabs > 1:
                _fan_out(rec)
                return JobState.RUNNING
            _run_whole(rec)
    except JobCancelled:
        rec.mark_cancelled()
        shutil.rmtree(absolute(work_relative_folder(rec)), ignore_errors=True)
        return JobState.CANCELLED
    except Exception as exc:
        log.exception("reconstruction %s failed", rec_id)
        rec.mark_failed(f"{type(exc).__name__}: {exc}")
        shutil.rmtree(absolute(work_relative_folder(rec)), ignore_errors=True)
        return JobState.FAILED
    return JobState.DONE


def _run_whole(rec: Reconstruction) -> None:
    scan = read_scan(absolute(rec.scan.relative_path))
    work = absolute(work_relative_folder(rec))
    work.mkdir(parents=True, exist_ok=True)
    relative = volume_relative_path(rec)
    try:
        result = pipeline.reconstruct_scan(
            scan,
            absolute(relative),
            rec.params,
            scratch_dir=work,
            calibration=_calibration(rec),
            provenance=_provenance(rec),
            progress=_progress(rec),
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _land_volume(
        rec,
        relative,
        result.sha256,
        axis_offset_px=result.axis_offset_px,
        detector_tilt_deg=result.detector_tilt_deg,
        centre_source=result.centre_source,
        backend=result.backend,
        shape=list(result.shape),
        voxel_size_um=result.voxel_size_um,
        timings=result.timings_s,
    )


def _land_volume(rec: Reconstruction, relative: Path, sha256: str, **fields) -> Volume:
    """Record the finished volume file, finish the job and advance the session."""
    with transaction.atomic():
        volume = Volume.record_file(rec.scan.session, relative, sha256)
        rec.mark_done("volume written", volume=volume, **fields)
        session = type(rec.scan.session).objects.select_for_update().get(pk=rec.scan.session_id)
        if session.state == SessionState.ACQUIRED:
            session.transition_to(SessionState.RECONSTRUCTED)
    return volume


# -- slab-parallel -----------------------------------------------------------------------


def _fan_out(rec: Reconstruction) -> None:
    """Preprocess once, find the centre once, then queue one task per z-slab."""
    scan = read_scan(absolute(rec.scan.relative_path))
    work = absolute(work_relative_folder(rec))
    work.mkdir(parents=True, exist_ok=True)
    params = rec.params
    scratch = pipeline.preprocess_to_scratch(
        scan, work / "line-integrals.h5", params, lambda f, m: rec.report_progress(0.2 * f, m)
    )
    with h5py.File(scratch, "r") as f:
        geometry, source = pipeline.find_scan_centre(f["line_integrals"], scan, params)
    grid = pipeline.volume_grid(geometry, params)
    bounds = [round(i * grid.shape[0] / rec.n_slabs) for i in range(rec.n_slabs + 1)]
    with transaction.atomic():
        rec.report_progress(0.2, f"reconstructing {rec.n_slabs} slabs")
        Reconstruction.objects.filter(pk=rec.pk).update(
            axis_offset_px=-geometry.offset_u_um / geometry.pixel_um,
            detector_tilt_deg=geometry.detector_tilt_deg,
            centre_source=source,
            shape=list(grid.shape),
            voxel_size_um=grid.voxel_um,
        )
        slabs = ReconstructionSlab.objects.bulk_create(
            ReconstructionSlab(reconstruction=rec, index=i, z_start=a, z_stop=b)
            for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))
            if b > a
        )
    from .tasks import reconstruct_slab

    for slab in slabs:
        reconstruct_slab.delay(rec.pk, slab.index)


def _claim_slab(rec_id: int, index: int, worker: str) -> ReconstructionSlab | None:
    now = timezone.now()
    taken = ReconstructionSlab.objects.filter(
        reconstruction_id=rec_id,
        index=index,
        state=SlabState.QUEUED,
        reconstruction__state=JobState.RUNNING,
        reconstruction__cancel_requested=False,
    ).update(state=SlabState.RUNNING, worker=worker, started_at=now)
    if not taken:
        return None
    return ReconstructionSlab.objects.select_related(
        "reconstruction__scan__session__animal__study", "reconstruction__scan__job__instrument"
    ).get(reconstruction_id=rec_id, index=index)


def run_slab(rec_id: int, index: int, *, worker: str = "") -> str:
    """Reconstruct one slab; the worker that finishes the last slab assembles the volume."""
    params = Reconstruction.objects.get(pk=rec_id).params
    backend = get_backend(params.backend).name
    slab = _claim_slab(rec_id, index, f"{worker or socket.gethostname()} ({backend})")
    if slab is None:
        return (
            ReconstructionSlab.objects.filter(reconstruction_id=rec_id, index=index)
            .values_list("state", flat=True)
            .first()
            or "missing"
        )
    rec = slab.reconstruction
    work = absolute(work_relative_folder(rec))
    relative = work_relative_folder(rec) / f"slab-{index:03d}.h5"
    try:
        scan = read_scan(absolute(rec.scan.relative_path))
        geometry = pipeline.cone_geometry(scan, rec.axis_offset_px, rec.detector_tilt_deg or 0.0)
        pipeline.reconstruct_slab_file(
            work / "line-integrals.h5",
            geometry,
            rec.params,
            (slab.z_start, slab.z_stop),
            absolute(relative),
            calibration=_calibration(rec),
        )
    except Exception as exc:
        log.exception("slab %s of reconstruction %s failed", index, rec_id)
        ReconstructionSlab.objects.filter(pk=slab.pk).update(
            state=SlabState.FAILED,
            error=f"{type(exc).__name__}: {exc}",
            finished_at=timezone.now(),
        )
        rec.mark_failed(f"slab {index}: {type(exc).__name__}: {exc}")
        shutil.rmtree(work, ignore_errors=True)
        return SlabState.FAILED
    ReconstructionSlab.objects.filter(pk=slab.pk).update(
        state=SlabState.DONE, relative_path=str(relative), finished_at=timezone.now()
    )
    slabs = rec.slabs.all()
    done = sum(s.state == SlabState.DONE for s in slabs)
    Reconstruction.objects.filter(pk=rec_id, state=JobState.RUNNING).update(
        progress=0.2 + 0.75 * done / len(slabs),
        progress_message=f"{done} of {len(slabs)} slabs reconstructed",
        heartbeat_at=timezone.now(),
    )
    _assemble_if_last(rec_id)
    return SlabState.DONE


def _assemble_if_last(rec_id: int) -> None:
    """Assemble once every slab is done; the row lock makes exactly one worker do it."""
    with transaction.atomic():
        rec = Reconstruction.objects.select_for_update().get(pk=rec_id)
        if rec.state != JobState.RUNNING or rec.slabs.exclude(state=SlabState.DONE).exists():
            return
        rec = Reconstruction.objects.select_related("scan__session", "scan__job__instrument").get(
            pk=rec_id
        )
        relative = volume_relative_path(rec)
        calibration = _calibration(rec)
        sha256 = pipeline.assemble_slab_files(
            [absolute(s.relative_path) for s in rec.slabs.all()],
            tuple(rec.shape),
            rec.voxel_size_um,
            absolute(relative),
            calibration=calibration,
            provenance={
                **_provenance(rec),
                "parameters": rec.parameters,
                "axis_offset_px": rec.axis_offset_px,
                "detector_tilt_deg": rec.detector_tilt_deg,
                "centre_source": rec.centre_source,
                "slabs": [[s.z_start, s.z_stop, s.worker] for s in rec.slabs.all()],
            },
        )
        _land_volume(rec, relative, sha256, backend="slabs")
    shutil.rmtree(absolute(work_relative_folder(rec)), ignore_errors=True)


__all__ = [
    "STALE_AFTER",
    "claim",
    "run_reconstruction",
    "run_slab",
    "start_automatic_reconstruction",
    "start_reconstruction",
    "volume_relative_path",
]

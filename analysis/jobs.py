"""Running analyses: start, claim, measure, store; the session becomes ``analysed``.

The Celery task in :mod:`analysis.tasks` is a thin wrapper around :func:`run_analysis`,
which tests call directly too.  A task claims its job by a conditional UPDATE, so a
re-delivered or duplicated message finds the job claimed or finished and returns; the
result rows and the job's ``done`` state are written in one transaction, and the files
an analysis writes (a morphometry's label-only segmentation volume, a remodelling's
registered follow-up with its labels) appear under their final names only when complete
and are removed again when their records cannot be written (:func:`_output_path`,
:func:`_recorded_or_removed`).  A job whose worker died (no heartbeat for
:data:`STALE_AFTER`) may be claimed again.

The measuring itself is Django-free (:mod:`analysis.measurement`); this module reads the
volumes, records what was measured and moves the session along.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from django.db import transaction

from nanoscope_web.version import code_version
from recon.models import Reconstruction, Volume, VolumeKind
from recon.volume_store import read_metadata, write_labels, write_volume
from studies.audit import audit_context
from studies.datafiles import absolute
from studies.jobs import JobCancelled
from studies.models import ScanSession
from studies.vocabulary import JobState, SessionState

from .measurement import (
    Progress,
    StaticFigures,
    finite_or_none,
    measure_remodelling_pair,
    measure_static,
    normalise_parameters,
)
from .models import (
    AnalysisJob,
    AnalysisKind,
    MorphometryResult,
    RegistrationResult,
    RemodellingResult,
)
from .remodelling import LABEL_NAMES
from .segmentation import BONE_THRESHOLD_MGHA_CM3

log = logging.getLogger(__name__)

STALE_AFTER = dt.timedelta(minutes=30)
"""A running job without a heartbeat for this long is taken to have lost its worker."""

SEGMENTATION_LABEL = "segmentation"
"""Name of the label volume a morphometry writes (classes: ``StaticFigures.LABEL_NAMES``)."""


# -- files ----------------------------------------------------------------------------------


def _read_grey(path: Path) -> np.ndarray:
    """The full-resolution grey values of a volume file, float32 ``[z, y, x]``."""
    with h5py.File(path, "r") as f:
        return f["volume/0"][...].astype(np.float32, copy=False)


def truth_figures(relative: str) -> dict[str, Any]:
    """The trabecular indices of a phantom ground-truth file (its attributes only).

    See :mod:`acquisition.phantom.truth` for the layout; the arrays are not read.
    Returns ``{}`` when ``relative`` is empty or the file is missing.
    """
    if not relative:
        return {}
    path = absolute(relative)
    if not path.exists():
        return {}
    with h5py.File(path, "r") as f:
        attrs = f.attrs
        previous = float(attrs["previous_day"])
        return {
            "day": int(attrs["day"]),
            "previous_day": None if math.isnan(previous) else int(previous),
            "bv_tv": float(attrs["bv_tv"]),
            "bfr_bv_pct_per_day": finite_or_none(attrs["bfr_bv_pct_per_day"]),
            "brr_bv_pct_per_day": finite_or_none(attrs["brr_bv_pct_per_day"]),
        }


# -- starting -----------------------------------------------------------------------------


def previous_volume(volume: Volume) -> Volume | None:
    """The newest reconstructed volume of the animal's previous session at the same site."""
    session = volume.session
    return (
        Volume.objects.filter(
            kind=VolumeKind.RECONSTRUCTION,
            session__animal_id=session.animal_id,
            session__site=session.site,
            session__planned_at__lt=session.planned_at,
        )
        .order_by("-session__planned_at", "-created_at", "-id")
        .first()
    )


def start_analysis(
    volume: Volume,
    kind: str,
    *,
    baseline_volume: Volume | None = None,
    parameters: dict | None = None,
    user=None,
    automatic: bool = False,
) -> AnalysisJob:
    """Create an analysis job and queue its task once the transaction commits.

    Parameters
    ----------
    volume : Volume
        The volume to measure (for remodelling, the follow-up).
    kind : {"morphometry", "remodelling"}
    baseline_volume : Volume, optional
        Remodelling only: the baseline; by default :func:`previous_volume`.
    parameters : dict, optional
        Sections of settings; defaults filled in (a calibrated volume is segmented at
        :data:`~analysis.segmentation.BONE_THRESHOLD_MGHA_CM3` unless
        ``segmentation.threshold_mgha_cm3`` is given; null asks for Otsu's).
    user : User, optional
        Who asked (None for automatic jobs).
    automatic : bool
        Started because the volume landed.

    Raises
    ------
    ValueError
        Bad parameters, a remodelling without a baseline, or a baseline of another
        animal or site, or not before the follow-up.
    """
    normalised = normalise_parameters(kind, _with_calibrated_threshold(volume, parameters))
    if kind == AnalysisKind.REMODELLING:
        baseline_volume = baseline_volume or previous_volume(volume)
        _check_pair(baseline_volume, volume)
    elif baseline_volume is not None:
        raise ValueError("baseline_volume: only a remodelling analysis has a baseline")
    job = AnalysisJob.objects.create(
        kind=kind,
        volume=volume,
        baseline_volume=baseline_volume,
        parameters=normalised,
        automatic=automatic,
        requested_by=user,
        code_version=code_version(),
    )
    from .tasks import analyse

    # robust: a broker out of reach leaves the job queued (logged), never fails the caller.
    transaction.on_commit(lambda: analyse.delay(job.pk), robust=True)
    return job


def _with_calibrated_threshold(volume: Volume, parameters: dict | None) -> dict | None:
    """The caller's parameters, with the fixed bone threshold for a calibrated volume."""
    if volume.units != "mgHA/cm3" or not isinstance(parameters, dict | None):
        return parameters  # uncalibrated: Otsu; not a dict: normalise_parameters says why
    parameters = dict(parameters or {})
    segmentation = parameters.get("segmentation") or {}
    if isinstance(segmentation, dict) and "threshold_mgha_cm3" not in segmentation:
        parameters["segmentation"] = {
            **segmentation,
            "threshold_mgha_cm3": BONE_THRESHOLD_MGHA_CM3,
        }
    return parameters


def _check_pair(baseline: Volume | None, followup: Volume) -> None:
    if baseline is None:
        raise ValueError("baseline_volume: no earlier session of this animal and site has a volume")
    a, b = baseline.session, followup.session
    if (a.animal_id, a.site) != (b.animal_id, b.site):
        raise ValueError("baseline_volume: must be of the same animal and site as the follow-up")
    if a.planned_at >= b.planned_at:
        raise ValueError("baseline_volume: its session must come before the follow-up's")


def next_volume(volume: Volume) -> Volume | None:
    """The newest reconstructed volume of the animal's next session at the same site."""
    session = volume.session
    later = Volume.objects.filter(
        kind=VolumeKind.RECONSTRUCTION,
        session__animal_id=session.animal_id,
        session__site=session.site,
        session__planned_at__gt=session.planned_at,
    )
    first = later.order_by("session__planned_at").values_list("session_id", flat=True).first()
    if first is None:
        return None
    return later.filter(session_id=first).order_by("-created_at", "-id").first()


def start_automatic_analysis(volume: Volume) -> list[AnalysisJob]:
    """The analyses a newly landed volume calls for.

    Morphometry of the volume; remodelling against the previous session of the animal at
    the site; and, where the next session already has a volume (an earlier time point
    landing late, or reconstructed again), that volume's remodelling against this one.
    """
    jobs = [start_analysis(volume, AnalysisKind.MORPHOMETRY, automatic=True)]
    baseline = previous_volume(volume)
    if baseline is not None:
        jobs.append(
            start_analysis(
                volume, AnalysisKind.REMODELLING, baseline_volume=baseline, automatic=True
            )
        )
    following = next_volume(volume)
    if following is not None and previous_volume(following) == volume:
        jobs.append(
            start_analysis(
                following, AnalysisKind.REMODELLING, baseline_volume=volume, automatic=True
            )
        )
    return jobs


# -- running ------------------------------------------------------------------------------


def claim(job_id: int, *, task_id: str = "", worker: str = "") -> AnalysisJob | None:
    """Take a queued (or stale running) job for this worker; None if it is not ours."""
    if not AnalysisJob.claim(job_id, task_id=task_id, worker=worker, stale_after=STALE_AFTER):
        return None
    return AnalysisJob.objects.select_related(
        "volume__session__animal__study", "baseline_volume__session", "requested_by"
    ).get(pk=job_id)


def run_analysis(job_id: int, *, task_id: str = "", worker: str = "") -> str:
    """Run one analysis job; return its state afterwards.

    A job that is not claimable (finished, cancelled, running elsewhere) is left alone
    and its current state returned: a re-delivered message does nothing twice.
    """
    job = claim(job_id, task_id=task_id, worker=worker or socket.gethostname())
    if job is None:
        return AnalysisJob.objects.filter(pk=job_id).values_list("state", flat=True).first()
    try:
        with audit_context(user=job.requested_by, source="task"):
            if job.kind == AnalysisKind.MORPHOMETRY:
                _run_morphometry(job)
            else:
                _run_remodelling(job)
    except JobCancelled:
        job.mark_cancelled()
        return JobState.CANCELLED
    except Exception as exc:
        log.exception("analysis job %s failed", job_id)
        job.mark_failed(f"{type(exc).__name__}: {exc}")
        return JobState.FAILED
    return JobState.DONE


class _Clock:
    """Seconds per step, for the job's ``timings``."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[f"{name}_s"] = round(now - self._last, 3)
        self._last = now


def _progress(job: AnalysisJob) -> Progress:
    return lambda fraction, message: job.report_progress(fraction, message)


def _truth_relative(volume: Volume) -> str:
    """The ground-truth file of the scan a volume was reconstructed from ("" if none)."""
    try:
        return volume.reconstruction.scan.truth_relative_path
    except Reconstruction.DoesNotExist:
        return ""


def _run_morphometry(job: AnalysisJob) -> None:
    volume = job.volume
    clock = _Clock()
    job.report_progress(0.02, "reading the volume")
    grey = _read_grey(absolute(volume.relative_path))
    clock.lap("read")
    figures = measure_static(
        grey, volume.voxel_size_um, volume.units, job.parameters, _progress(job)
    )
    del grey
    clock.lap("measure")
    job.report_progress(0.9, "writing the segmentation labels")
    relative, sha256 = _write_segmentation(job, figures)
    clock.lap("write")
    _recorded_or_removed(
        relative, lambda: _store_morphometry(job, figures, relative, sha256, clock)
    )


def _output_path(job: AnalysisJob, volume: Volume, kind: str) -> Path:
    """``analysis-<job>.<kind>.h5`` beside ``volume``, relative to the data root.

    Volume files are never replaced: a file left there by a worker that died between
    writing it and recording it is removed first (the job is this worker's now).
    """
    relative = Path(volume.relative_path).parent / f"analysis-{job.pk}.{kind}.h5"
    if not Volume.objects.filter(relative_path=str(relative)).exists():
        absolute(relative).unlink(missing_ok=True)
    return relative


def _recorded_or_removed(relative: Path, store: Callable[[], None]) -> None:
    """Run ``store()`` (the records of the file ``relative``); remove the file if it fails."""
    try:
        store()
    except BaseException:
        absolute(relative).unlink(missing_ok=True)  # no file without its record
        raise


def _write_segmentation(job: AnalysisJob, figures: StaticFigures) -> tuple[Path, str]:
    """Write the label-only segmentation volume beside the measured volume.

    Same grid and pyramid levels as the measured volume (labels halved by their mode);
    returns its path relative to the data root and its sha256.
    """
    volume = job.volume
    source = read_metadata(absolute(volume.relative_path))
    relative = _output_path(job, volume, "segmentation")
    sha256 = write_labels(
        absolute(relative),
        {SEGMENTATION_LABEL: figures.labels},
        volume.voxel_size_um,
        volume.units,
        n_levels=len(source.shapes),
        chunk=max(source.chunks),
        label_reduction="mode",
        calibration=source.calibration,
        provenance={
            "analysis_job_id": job.pk,
            "source_sha256": volume.sha256,
            "labels": {
                SEGMENTATION_LABEL: {str(k): v for k, v in StaticFigures.LABEL_NAMES.items()}
            },
            "threshold": figures.threshold,
            "threshold_method": figures.threshold_method,
            "trabecular_voi": figures.trabecular_voi,
            "parameters": job.parameters,
            "code_version": job.code_version or code_version(),
        },
    )
    return relative, sha256


def _store_morphometry(
    job: AnalysisJob, figures: StaticFigures, relative: Path, sha256: str, clock: _Clock
) -> None:
    volume = job.volume
    truth_path = _truth_relative(volume)
    truth = truth_figures(truth_path)
    with transaction.atomic():
        labels = Volume.record_file(volume.session, relative, sha256, VolumeKind.SEGMENTATION)
        MorphometryResult.objects.create(
            job=job,
            volume=volume,
            volume_sha256=volume.sha256,
            voxel_size_um=volume.voxel_size_um,
            units=volume.units,
            parameters=job.parameters,
            code_version=job.code_version or code_version(),
            study_day=volume.session.study_day,
            threshold=figures.threshold,
            threshold_method=figures.threshold_method,
            trabecular_voi=figures.trabecular_voi,
            details=figures.details,
            label_volume=labels,
            truth_bv_tv=truth.get("bv_tv"),
            truth_relative_path=truth_path if truth else "",
            **figures.values,
        )
        job.mark_done("measured", timings=clock.timings)
        # In the same transaction: whoever sees the job done sees the session moved.
        advance_session(job.volume.session_id)


def interval_days(baseline: ScanSession, followup: ScanSession) -> float:
    """Days between two sessions: the difference of their study days (else of their times).

    Raises
    ------
    ValueError
        When the follow-up is not after the baseline.
    """
    day0, day1 = baseline.study_day, followup.study_day
    if day0 is not None and day1 is not None and day1 != day0:
        days = float(day1 - day0)
    else:
        days = (followup.planned_at - baseline.planned_at).total_seconds() / 86400.0
    if not days > 0:
        raise ValueError(f"the follow-up must come after the baseline (interval {days:g} days)")
    return days


def _run_remodelling(job: AnalysisJob) -> None:
    baseline, followup = job.baseline_volume, job.volume
    if not math.isclose(baseline.voxel_size_um, followup.voxel_size_um, rel_tol=1e-6):
        raise ValueError(
            f"voxel sizes differ: baseline {baseline.voxel_size_um} µm, "
            f"follow-up {followup.voxel_size_um} µm"
        )
    if baseline.units != followup.units:
        raise ValueError(f"units differ: baseline {baseline.units}, follow-up {followup.units}")
    days = interval_days(baseline.session, followup.session)
    clock = _Clock()
    job.report_progress(0.02, "reading the volumes")
    grey0 = _read_grey(absolute(baseline.relative_path))
    grey1 = _read_grey(absolute(followup.relative_path))
    clock.lap("read")
    figures = measure_remodelling_pair(
        grey0, grey1, baseline.voxel_size_um, baseline.units, days, job.parameters, _progress(job)
    )
    clock.lap("measure")
    job.report_progress(0.9, "writing the remodelling volume")
    relative = _output_path(job, followup, "remodelling")
    registration = figures.registration
    sha256 = write_volume(
        absolute(relative),
        figures.registered,
        baseline.voxel_size_um,
        baseline.units,
        labels={"remodelling": figures.remodelling.labels},
        label_reduction="mode",
        calibration=read_metadata(absolute(baseline.relative_path)).calibration,
        provenance={
            "analysis_job_id": job.pk,
            "baseline_sha256": baseline.sha256,
            "followup_sha256": followup.sha256,
            "transform": registration.transform.to_dict(),
            "labels": {"remodelling": {str(k): v for k, v in LABEL_NAMES.items()}},
            "parameters": job.parameters,
            "code_version": job.code_version or code_version(),
        },
    )
    clock.lap("write")
    truth_path = _truth_relative(followup)
    truth = truth_figures(truth_path)
    if truth and truth["previous_day"] != baseline.session.study_day:
        truth = {}  # the phantom's change is since another scan than this baseline
    _recorded_or_removed(
        relative,
        lambda: _store_remodelling(job, relative, sha256, figures, days, truth, truth_path, clock),
    )


def _store_remodelling(job, relative, sha256, figures, days, truth, truth_path, clock) -> None:
    baseline, followup = job.baseline_volume, job.volume
    registration = figures.registration
    result = figures.remodelling
    common = {
        "parameters": job.parameters,
        "code_version": job.code_version or code_version(),
        "study_day": followup.session.study_day,
    }
    with transaction.atomic():
        labels = Volume.record_file(followup.session, relative, sha256, VolumeKind.REMODELLING)
        reg = RegistrationResult.objects.create(
            job=job,
            baseline_volume=baseline,
            followup_volume=followup,
            baseline_sha256=baseline.sha256,
            followup_sha256=followup.sha256,
            transform=registration.transform.to_dict(),
            metric_value=registration.metric_value,
            ncc=finite_or_none(registration.ncc),
            overlap_fraction=registration.overlap_fraction,
            iterations=registration.iterations,
            stop_condition=registration.stop_condition,
            **common,
        )
        dynamic = {
            name: finite_or_none(getattr(result, name))
            for name in (
                "bfr_bv_pct_per_day", "brr_bv_pct_per_day", "ms_bs_pct", "es_bs_pct",
                "mar_um_per_day", "mrr_um_per_day", "net_change_pct",
            )
        }  # fmt: skip
        RemodellingResult.objects.create(
            job=job,
            registration=reg,
            baseline_volume=baseline,
            followup_volume=followup,
            label_volume=labels,
            baseline_study_day=baseline.session.study_day,
            interval_days=days,
            voxel_size_um=baseline.voxel_size_um,
            threshold=figures.threshold,
            analysed_region=figures.analysed_region,
            bv0_mm3=result.bv0_mm3,
            bv1_mm3=result.bv1_mm3,
            fv_mm3=result.fv_mm3,
            rv_mm3=result.rv_mm3,
            truth_bfr_bv_pct_per_day=truth.get("bfr_bv_pct_per_day"),
            truth_brr_bv_pct_per_day=truth.get("brr_bv_pct_per_day"),
            truth_relative_path=truth_path if truth else "",
            **dynamic,
            **common,
        )
        job.mark_done("measured", timings=clock.timings)
        # In the same transaction: whoever sees the job done sees the session moved.
        advance_session(job.volume.session_id)


def advance_session(session_id: int) -> bool:
    """Move a reconstructed session to ``analysed`` once its analyses are done.

    The session is analysed when none of its jobs is queued or running and the newest
    job of each kind it has is done.  Called inside the transaction that marks a job
    done: the session row is locked, so of two jobs finishing together on two workers
    the second to take the lock sees the first one done, and exactly one moves it.

    Returns
    -------
    bool
        Whether the session moved.
    """
    with transaction.atomic():
        session = ScanSession.objects.select_for_update().get(pk=session_id)
        if session.state != SessionState.RECONSTRUCTED:
            return False
        jobs = AnalysisJob.objects.filter(volume__session_id=session_id)
        if not jobs.exists() or jobs.filter(state__in=[JobState.QUEUED, JobState.RUNNING]).exists():
            return False
        for kind in set(jobs.values_list("kind", flat=True)):
            newest = jobs.filter(kind=kind).order_by("-created_at", "-id").first()
            if newest.state != JobState.DONE:
                return False
        session.transition_to(SessionState.ANALYSED)
    return True


__all__ = [
    "SEGMENTATION_LABEL",
    "STALE_AFTER",
    "advance_session",
    "claim",
    "interval_days",
    "next_volume",
    "previous_volume",
    "run_analysis",
    "start_analysis",
    "start_automatic_analysis",
    "truth_figures",
]

"""Small synthetic volumes and the records around them, for the analysis job tests."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from acquisition.models import Scan
from acquisition.phantom import GroundTruth, write_truth
from analysis import models as am
from recon.models import Reconstruction, Volume
from recon.volume_store import read_metadata, write_volume
from studies import models as sm
from studies.datafiles import absolute
from studies.vocabulary import JobState, SessionState

VOXEL_UM = 10.0
BONE_MGHA = 1000.0
PLATE_VOX, PERIOD_VOX = 4, 10


def plates(shape: tuple[int, int, int] = (24, 30, 40)) -> np.ndarray:
    """Plates parallel to z (planes x = const): 4 voxels thick every 10, BV/TV = 0.4.

    The plates lie at x = 3–6, 13–16, …: none is cut by the array border (a cut plate
    would continue beyond it, twice as thick).
    """
    grey = np.zeros(shape, dtype=np.float32)
    x = np.arange(shape[2])
    grey[:, :, ((x + 7) % PERIOD_VOX) < PLATE_VOX] = BONE_MGHA
    return grey


def session_on_day(animal: sm.Animal, day: int, site: str = "tibia-right-proximal"):
    """A reconstructed scan session of ``animal`` on study day ``day``."""
    study = animal.study
    return sm.ScanSession.objects.create(
        animal=animal,
        site=site,
        planned_at=study.datetime_of_day(day, dt.time(10)),
        state=SessionState.RECONSTRUCTED,
    )


def land_volume(
    session: sm.ScanSession, grey: np.ndarray, *, units: str = "mgHA/cm3", name: str = "recon"
) -> Volume:
    """Write ``grey`` to the volume store under the session's folder and record it."""
    session.refresh_from_db()
    if session.state != SessionState.RECONSTRUCTED:
        sm.ScanSession.objects.filter(pk=session.pk).update(state=SessionState.RECONSTRUCTED)
    animal = session.animal
    relative = f"study-{animal.study_id}/animal-{animal.pk}/session-{session.pk}/{name}.volume.h5"
    path = absolute(relative)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    sha256 = write_volume(path, grey, VOXEL_UM, units)
    meta = read_metadata(path)
    return Volume.objects.create(
        session=session,
        relative_path=relative,
        sha256=sha256,
        size_bytes=path.stat().st_size,
        shape=list(meta.shapes[0]),
        voxel_size_um=VOXEL_UM,
        units=units,
        n_levels=len(meta.shapes),
    )


def recorded_result(session: sm.ScanSession, **values) -> am.MorphometryResult:
    """A finished morphometry job and its result with the given figures (no file)."""
    volume = Volume.objects.create(
        session=session,
        relative_path=f"made-up/session-{session.pk}-{Volume.objects.count()}.h5",
        sha256="0" * 64,
        size_bytes=1,
        shape=[1, 1, 1],
        voxel_size_um=VOXEL_UM,
        units="mgHA/cm3",
        n_levels=1,
    )
    parameters = am.normalise_parameters("morphometry", {})
    job = am.AnalysisJob.objects.create(
        kind="morphometry", volume=volume, parameters=parameters, state=JobState.DONE
    )
    return am.MorphometryResult.objects.create(
        job=job,
        volume=volume,
        volume_sha256=volume.sha256,
        voxel_size_um=VOXEL_UM,
        units="mgHA/cm3",
        threshold=500.0,
        threshold_method="fixed",
        trabecular_voi="whole region",
        parameters=parameters,
        code_version="test",
        study_day=session.study_day,
        **values,
    )


def attach_truth(
    volume: Volume,
    *,
    day: int,
    previous_day: int | None,
    bv_tv: float,
    bfr: float = math.nan,
    brr: float = math.nan,
) -> str:
    """Make ``volume`` the reconstruction of a simulated scan with a ground-truth file.

    Returns the truth file's path relative to the data root.
    """
    relative = f"{volume.relative_path}.truth.h5"
    empty = np.zeros((2, 2, 2), dtype=bool)
    write_truth(
        absolute(relative),
        GroundTruth(
            site=volume.session.site, seed=1, voxel_um=VOXEL_UM, day=day,
            previous_day=previous_day, labels=empty.astype(np.uint8),
            density_mgha_cm3=empty.astype(np.float32), bone_mask=empty, trabecular_voi=empty,
            formed=empty, resorbed=empty, bv_tv=bv_tv, bfr_bv_pct_per_day=bfr,
            brr_bv_pct_per_day=brr,
        ),
    )  # fmt: skip
    scan = Scan.objects.create(
        session=volume.session, source="imported", format="nxtomo",
        relative_path=f"{volume.relative_path}.nxs", sha256="1" * 64, size_bytes=1,
        n_frames=1, n_projections=1, frame_shape=[1, 1], truth_relative_path=relative,
    )  # fmt: skip
    Reconstruction.objects.create(scan=scan, volume=volume, state=JobState.DONE)
    return relative

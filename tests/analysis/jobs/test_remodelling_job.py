"""Registration and remodelling jobs between two synthetic time points."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from analysis import jobs
from analysis import models as am
from analysis.remodelling import FORMED, RESORBED
from recon.models import Volume, VolumeKind
from recon.volume_store import read_metadata
from studies.datafiles import absolute, sha256_of
from studies.vocabulary import JobState, SessionState
from tests.analysis.remodelling.phantom import render, true_change

from .records import VOXEL_UM, attach_truth, land_volume, session_on_day

GROWN = 3
INTERVAL_DAYS = 10
PARAMETERS = {
    "segmentation": {"threshold_mgha_cm3": 500.0},
    "regions": {"compartments": "none"},
    # Mature-density plates: the single-threshold classification (no formation threshold).
    "remodelling": {
        "threshold": 500.0,
        "formation_threshold": None,
        "sigma_vox": 0.8,
        "density_change": 225.0,
    },  # fmt: skip
}


@pytest.fixture(scope="module")
def rendered():
    """Grey values of the two time points (rendered once: 27 samples per voxel)."""
    return render(0), render(GROWN)


@pytest.fixture
def pair(world, rendered):
    """Day 7 baseline and day 17 follow-up whose plate grew 3 voxels up, lost 3 below."""
    baseline = land_volume(world.session, rendered[0])
    followup_session = session_on_day(world.animal, 7 + INTERVAL_DAYS)
    followup = land_volume(followup_session, rendered[1])
    return baseline, followup


@pytest.mark.django_db
def test_formed_and_resorbed_bone_through_the_job(world, pair):
    baseline, followup = pair
    # The phantom's change is since day 3, not since this baseline: not comparable.
    attach_truth(followup, day=17, previous_day=3, bv_tv=0.2, bfr=0.5, brr=0.25)
    assert jobs.previous_volume(followup) == baseline
    job = jobs.start_analysis(followup, "remodelling", parameters=PARAMETERS)
    assert job.baseline_volume == baseline  # found: the previous session of animal and site
    assert jobs.run_analysis(job.pk) == JobState.DONE, am.AnalysisJob.objects.get(pk=job.pk).error

    result = am.RemodellingResult.objects.get(job=job)
    fv, rv = true_change(GROWN)
    voxel_mm3 = VOXEL_UM**3 * 1e-9
    rate = GROWN * VOXEL_UM / INTERVAL_DAYS
    assert result.interval_days == INTERVAL_DAYS
    assert (result.study_day, result.baseline_study_day) == (17, 7)
    assert result.fv_mm3 == pytest.approx(fv * voxel_mm3, rel=0.05)
    assert result.rv_mm3 == pytest.approx(rv * voxel_mm3, rel=0.05)
    assert result.mar_um_per_day == pytest.approx(rate, rel=0.05)
    assert result.mrr_um_per_day == pytest.approx(rate, rel=0.05)
    bfr = 100 * result.fv_mm3 / (result.bv0_mm3 * INTERVAL_DAYS)
    assert result.bfr_bv_pct_per_day == pytest.approx(bfr)
    assert result.bv1_mm3 - result.bv0_mm3 == pytest.approx(result.fv_mm3 - result.rv_mm3)

    registration = result.registration
    assert registration.ncc > 0.85 and registration.overlap_fraction > 0.95  # the plate moved
    assert np.abs(registration.transform["translation_um"]).max() < VOXEL_UM
    assert registration.baseline_sha256 == baseline.sha256

    labels = result.label_volume
    assert labels.kind == VolumeKind.REMODELLING and labels.session_id == followup.session_id
    path = absolute(labels.relative_path)
    assert sha256_of(path) == labels.sha256
    meta = read_metadata(path)
    assert meta.labels["remodelling"][0] == (64, 64, 64)
    assert meta.provenance["followup_sha256"] == followup.sha256
    with h5py.File(path, "r") as f:
        stored = f["labels/remodelling/0"][...]
    assert np.count_nonzero(stored == FORMED) * voxel_mm3 == pytest.approx(result.fv_mm3)
    assert np.count_nonzero(stored == RESORBED) * voxel_mm3 == pytest.approx(result.rv_mm3)
    assert result.truth_bfr_bv_pct_per_day is None and result.truth_relative_path == ""
    followup.session.refresh_from_db()
    assert followup.session.state == SessionState.ANALYSED  # its one analysis is done


@pytest.mark.django_db
def test_landing_starts_morphometry_and_remodelling_and_the_session_is_analysed(world, pair):
    baseline, followup = pair
    truth = attach_truth(followup, day=17, previous_day=7, bv_tv=0.2, bfr=0.5, brr=0.25)
    started = jobs.start_automatic_analysis(followup)
    assert [(j.kind, j.baseline_volume_id, j.automatic) for j in started] == [
        ("morphometry", None, True),
        ("remodelling", baseline.pk, True),
    ]
    assert jobs.run_analysis(started[0].pk) == JobState.DONE
    followup.session.refresh_from_db()
    assert followup.session.state == SessionState.RECONSTRUCTED  # remodelling still queued
    assert jobs.run_analysis(started[1].pk) == JobState.DONE
    followup.session.refresh_from_db()
    assert followup.session.state == SessionState.ANALYSED
    remodelling = started[1].remodelling
    assert (remodelling.truth_bfr_bv_pct_per_day, remodelling.truth_brr_bv_pct_per_day) == (
        0.5,
        0.25,
    )
    assert remodelling.truth_relative_path == truth
    assert started[0].morphometry.truth_bv_tv == 0.2
    # The remodelling volume it wrote starts no analysis of its own.
    assert Volume.objects.filter(kind=VolumeKind.REMODELLING).count() == 1
    assert am.AnalysisJob.objects.count() == 2


@pytest.mark.django_db
def test_baseline_must_precede_the_followup(world, pair):
    baseline, followup = pair
    with pytest.raises(ValueError, match="must come before"):
        jobs.start_analysis(baseline, "remodelling", baseline_volume=followup)
    with pytest.raises(ValueError, match="no earlier session"):
        jobs.start_analysis(baseline, "remodelling")


@pytest.mark.django_db
def test_an_earlier_time_point_landing_late_starts_the_next_ones_remodelling(world, rendered):
    followup = land_volume(session_on_day(world.animal, 7 + INTERVAL_DAYS), rendered[1])
    assert [j.kind for j in jobs.start_automatic_analysis(followup)] == ["morphometry"]
    baseline = land_volume(world.session, rendered[0])
    started = jobs.start_automatic_analysis(baseline)
    assert [(j.kind, j.volume_id, j.baseline_volume_id) for j in started] == [
        ("morphometry", baseline.pk, None),
        ("remodelling", followup.pk, baseline.pk),
    ]

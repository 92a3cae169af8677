"""Remodelling of the phantom between time points, and its ground truth."""

from __future__ import annotations

import math

import numpy as np
import pytest

from acquisition.phantom import (
    Tissue,
    TreatmentSpec,
    ground_truth,
    make_phantom,
    phantom_at,
    phantom_series,
    read_truth,
    remodelling_rates,
    truth_path_for,
    turnover_rates,
    unknown_agents,
    write_truth,
)
from acquisition.phantom.materials import NEW_BONE_DENSITY_MGHA_CM3, TRABECULAR_DENSITY_MGHA_CM3

SHAM = [
    TreatmentSpec("surgery", "sham", 0),
    TreatmentSpec("vehicle", "saline", 0, 7, 5, dose=5.0, dose_unit="mL/kg"),
]
OVX = [TreatmentSpec("surgery", "ovariectomy", 0)]
OVX_ZOL = [*OVX, TreatmentSpec("drug", "zoledronate", 0, 7, 5, dose=100.0, dose_unit="ug/kg")]
PTH = [TreatmentSpec("drug", "PTH(1-34)", 0, 1, end_day=40, dose=80.0, dose_unit="ug/kg")]


@pytest.fixture(scope="module")
def base():
    return make_phantom("tibia-right-proximal", shape=(96, 96, 96), voxel_um=10.0, seed=21)


def _bv_tv(base, treatments, day=28):
    return phantom_at(base, treatments, day).bv_tv


def test_sham_bone_volume_is_exactly_balanced(base):
    series = phantom_series(base, SHAM, [0, 14, 28])
    counts = [int(np.count_nonzero(p.trabecular_bone)) for p in series]
    assert counts[0] == counts[1] == counts[2]
    assert not np.array_equal(series[0].labels, series[2].labels)  # but it did remodel


def test_treatment_effects_have_the_documented_sign_over_four_weeks(base):
    sham, ovx, ovx_zol, pth = (_bv_tv(base, t) for t in (SHAM, OVX, OVX_ZOL, PTH))
    # Documented: OVX loses ≈ 22 % in 4 weeks; zoledronate prevents it; PTH gains ≈ 30 %.
    assert 0.65 * sham < ovx < 0.85 * sham
    assert ovx_zol > sham > ovx
    assert pth > 1.15 * sham


def test_ground_truth_changes_add_up_exactly(base):
    truth = ground_truth(base, OVX, day=28, previous_day=21)
    before = phantom_at(base, OVX, 21)
    bone_before = before.trabecular_bone
    bone_now = truth.labels == Tissue.TRABECULAR_BONE
    delta = int(np.count_nonzero(bone_now)) - int(np.count_nonzero(bone_before))
    assert int(truth.formed.sum()) - int(truth.resorbed.sum()) == delta
    assert not np.any(truth.formed & truth.resorbed)
    assert np.all(bone_now[truth.formed]) and not np.any(bone_before[truth.formed])
    assert np.all(bone_before[truth.resorbed]) and not np.any(bone_now[truth.resorbed])
    assert np.array_equal(truth.bone_mask, bone_now | (truth.labels == Tissue.CORTICAL_BONE))
    per_day = 100.0 / np.count_nonzero(bone_before) / 7
    assert truth.bfr_bv_pct_per_day == pytest.approx(truth.formed.sum() * per_day)
    assert truth.brr_bv_pct_per_day == pytest.approx(truth.resorbed.sum() * per_day)
    assert truth.bv_tv == pytest.approx(
        np.count_nonzero(bone_now) / np.count_nonzero(truth.trabecular_voi)
    )
    # OVX by week 3–4: resorption above formation, both near the model's 2.5 and 3.7 %/day.
    assert 1.5 < truth.bfr_bv_pct_per_day < truth.brr_bv_pct_per_day < 4.0


def test_remodelling_rates_count_formed_and_resorbed_over_baseline_bone_per_day():
    before = np.zeros((10, 10, 10), bool)
    before[:5] = True  # 500 bone voxels
    after = before.copy()
    after[5, :2] = True  # 20 formed
    after[0, :3] = False  # 30 resorbed
    # 20 / 500 over 4 days = 1 %/day; 30 / 500 / 4 = 1.5 %/day.
    assert remodelling_rates(before, after, 4) == pytest.approx((1.0, 1.5))
    assert remodelling_rates(np.zeros_like(before), after, 1)[1] == 0.0  # no bone: no 0-division


def test_baseline_truth_has_no_changes_and_nan_rates(base):
    truth = ground_truth(base, OVX, day=0)
    assert truth.previous_day is None
    assert not truth.formed.any() and not truth.resorbed.any()
    assert math.isnan(truth.bfr_bv_pct_per_day) and math.isnan(truth.brr_bv_pct_per_day)
    assert truth.bv_tv == pytest.approx(base.bv_tv)


def test_a_time_point_is_a_function_of_seed_treatments_and_day(base):
    direct = phantom_at(base, OVX_ZOL, 21)
    via_series = phantom_series(base, OVX_ZOL, [7, 21, 14])[1]
    again = phantom_at(
        make_phantom("tibia-right-proximal", shape=(96, 96, 96), voxel_um=10.0, seed=21),
        OVX_ZOL,
        21,
    )
    assert np.array_equal(direct.labels, via_series.labels)
    assert np.array_equal(direct.density_mgha_cm3, again.density_mgha_cm3)
    assert direct.day == 21.0


def test_new_bone_is_less_mineralised_and_matures(base):
    phantom = phantom_at(base, PTH, 14)
    new = (phantom.labels == Tissue.TRABECULAR_BONE) & (base.labels != Tissue.TRABECULAR_BONE)
    density = phantom.density_mgha_cm3[new]
    assert density.min() >= NEW_BONE_DENSITY_MGHA_CM3
    assert density.max() < TRABECULAR_DENSITY_MGHA_CM3
    # Formed ≥ half a day before the snapshot: above the initial 600, below mature 1000.
    assert NEW_BONE_DENSITY_MGHA_CM3 < density.mean() < TRABECULAR_DENSITY_MGHA_CM3
    assert np.all(phantom.density_mgha_cm3[phantom.labels == Tissue.MARROW] == 0)


def test_truth_file_round_trip_beside_the_scan(tmp_path, base):
    truth = ground_truth(base, OVX, day=14, previous_day=7)
    path = truth_path_for(tmp_path / "session-3" / "scan.h5")
    assert path == tmp_path / "session-3" / "scan.truth.h5"
    assert truth_path_for("a/b/scan.nxs") == truth_path_for("a/b/scan").with_name("scan.truth.h5")
    write_truth(path, truth)
    assert [p.name for p in path.parent.iterdir()] == ["scan.truth.h5"]
    back = read_truth(path)
    for name in ("labels", "density_mgha_cm3", "bone_mask", "formed", "resorbed", "trabecular_voi"):
        assert np.array_equal(getattr(back, name), getattr(truth, name)), name
    assert (back.day, back.previous_day, back.seed, back.site) == (
        14,
        7,
        21,
        "tibia-right-proximal",
    )
    assert back.bfr_bv_pct_per_day == pytest.approx(truth.bfr_bv_pct_per_day)
    assert back.treatments == tuple(OVX)
    with pytest.raises(FileExistsError):
        write_truth(path, truth)


def test_turnover_rates_follow_the_documented_time_course():
    assert turnover_rates(SHAM, 10.0) == (2.0, 2.0)
    f, r = turnover_rates(OVX, 200.0)  # long after surgery: full effect, permanent
    assert (f, r) == pytest.approx((2.5, 3.7))
    assert turnover_rates(OVX, -1.0) == (2.0, 2.0)
    aln = [TreatmentSpec("drug", "alendronate", 0, 1, end_day=20)]
    on = turnover_rates(aln, 20.0)[1]
    off = turnover_rates(aln, 20.0 + 14.0)[1]
    # Resorption suppressed to 0.35× while dosed; half-way back after 1/e of the offset.
    assert on == pytest.approx(2.0 * 0.35, rel=0.01)
    assert off == pytest.approx(2.0 * (1 - 0.65 * math.exp(-1)), rel=0.01)


def test_treatment_specs_validate_and_list_unknown_agents():
    assert TreatmentSpec("drug", "zoledronate", 0, 7, 5).schedule_days() == [0, 7, 14, 21, 28]
    assert TreatmentSpec("drug", "x", 3, 2, end_day=8).schedule_days() == [3, 5, 7]
    with pytest.raises(ValueError, match="kind"):
        TreatmentSpec("diet", "x", 0)
    with pytest.raises(ValueError, match="n_administrations or end_day"):
        TreatmentSpec("drug", "x", 0, 7)
    treatments = [
        *SHAM,
        TreatmentSpec("drug", "romosozumab", 0),
        TreatmentSpec("drug", "Zoledronic acid", 0),
    ]
    assert unknown_agents(treatments) == ["romosozumab"]

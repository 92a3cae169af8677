"""Rigid registration: recovery of a known motion, determinism, serialisation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from analysis.registration import (
    RegistrationParameters,
    RegistrationResult,
    RigidTransform,
    register_rigid,
    resample_onto,
)

from .conftest import TRUE_MOTION, VOXEL_UM


def _rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    cos = (np.trace(a.T @ b) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def test_registration_recovers_angles_within_half_a_degree(registration):
    found = np.asarray(registration.transform.angles_deg)
    assert np.abs(found - TRUE_MOTION.angles_deg).max() < 0.5
    assert _rotation_angle_deg(registration.transform.rotation, TRUE_MOTION.rotation) < 0.5


def test_registration_recovers_translation_within_half_a_voxel(registration):
    found = registration.transform.matrix[:3, 3]
    assert np.abs(found - TRUE_MOTION.matrix[:3, 3]).max() < 0.5 * VOXEL_UM


def test_registration_reports_quality(registration):
    assert registration.ncc > 0.9
    assert 0.85 < registration.overlap_fraction <= 1.0
    assert np.isfinite(registration.metric_value)
    assert registration.stop_condition


def test_registration_is_repeatable_whatever_the_global_thread_count(
    moved_pair, unchanged_mask, registration
):
    # Same seed, same samples, and the run's own thread count for the metric and
    # the pyramid filters: another test (or a worker) changing SimpleITK's global
    # default must not change the transform, not even in the last bits.
    base, follow = moved_pair
    previous = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(previous + 3)
    try:
        again = register_rigid(base, follow, VOXEL_UM, fixed_mask=unchanged_mask)
        assert sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() == previous + 3
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(previous)
    assert again.transform.parameters == registration.transform.parameters


def test_identical_volumes_register_to_identity(baseline):
    result = register_rigid(baseline, baseline, VOXEL_UM)
    assert np.abs(result.transform.angles_deg).max() < 0.1
    assert np.abs(result.transform.translation_um).max() < 0.05 * VOXEL_UM
    assert result.ncc == pytest.approx(1.0, abs=1e-3)


def test_transform_dict_round_trip_through_json():
    transform = RigidTransform((1.5, -2.0, 3.25), (12.0, -7.5, 3.0), (5.0, 0.0, -5.0))
    data = json.loads(json.dumps(transform.to_dict()))
    assert RigidTransform.from_dict(data) == transform
    np.testing.assert_allclose(data["matrix"], transform.matrix)


def test_result_dict_round_trip_through_json(registration):
    data = json.loads(json.dumps(registration.to_dict()))
    assert RegistrationResult.from_dict(data) == registration


def test_matrix_maps_points_like_the_euler_parameters():
    transform = RigidTransform((0.0, 0.0, 90.0), (1.0, 2.0, 3.0), (10.0, 0.0, 0.0))
    # (20, 0, 0) is 10 µm from the centre along x; +90° about z sends it to +y.
    np.testing.assert_allclose(transform.apply(np.array([20.0, 0.0, 0.0])), [11.0, 12.0, 3.0])


def test_inverse_undoes_the_transform():
    transform = RigidTransform((3.0, -2.0, 5.0), (10.0, -4.0, 7.0), (1.0, 2.0, 3.0))
    np.testing.assert_allclose(transform.matrix @ transform.inverse().matrix, np.eye(4), atol=1e-12)


@pytest.mark.parametrize("order", [1, 3])
def test_resample_with_identity_returns_the_volume(baseline, order):
    out = resample_onto(baseline, RigidTransform(), baseline.shape, VOXEL_UM, order=order)
    np.testing.assert_allclose(out, baseline, atol=1e-2)


@pytest.mark.parametrize("order", [1, 3])
def test_resample_translates_by_whole_voxels(order):
    volume = np.zeros((8, 8, 8), dtype=np.float32)
    volume[4, 4, 4] = 1.0
    shift = RigidTransform(translation_um=(VOXEL_UM, 0.0, 0.0))
    out = resample_onto(volume, shift, volume.shape, VOXEL_UM, order=order)
    # The baseline voxel at x reads the follow-up at x + 1 voxel.
    assert out[4, 4, 3] == pytest.approx(1.0, abs=1e-5)
    assert out.sum() == pytest.approx(1.0, abs=1e-5)


def test_bspline_resampling_at_half_a_voxel_smooths_less_than_trilinear():
    # A one-voxel layer (1000) shifted by half a voxel: trilinear interpolation averages
    # it with its empty neighbours to a 500 peak; the cubic B-spline keeps 600.
    volume = np.zeros((16, 16, 16), dtype=np.float32)
    volume[:, :, 8] = 1000.0
    shift = RigidTransform(translation_um=(0.5 * VOXEL_UM, 0.0, 0.0))
    linear = resample_onto(volume, shift, volume.shape, VOXEL_UM, order=1)
    spline = resample_onto(volume, shift, volume.shape, VOXEL_UM, order=3)
    assert linear[8, 8].max() == pytest.approx(500.0, abs=1e-3)
    assert spline[8, 8].max() == pytest.approx(600.5, abs=1.0)  # cardinal cubic spline at ½
    # Both keep the layer's mass.
    assert linear[8, 8].sum() == pytest.approx(1000.0, rel=1e-4)
    assert spline[8, 8].sum() == pytest.approx(1000.0, rel=1e-2)


def test_nearest_resampling_keeps_label_values():
    labels = np.random.default_rng(0).integers(0, 4, size=(12, 12, 12)).astype(np.uint8)
    out = resample_onto(
        labels, RigidTransform(angles_deg=(0.0, 0.0, 7.0)), labels.shape, VOXEL_UM, order=0
    )
    assert out.dtype == np.uint8
    assert set(np.unique(out)) <= {0, 1, 2, 3}


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"baseline": np.zeros((8, 8))}, "baseline"),
        ({"followup": np.full((8, 8, 8), np.nan)}, "followup"),
        ({"voxel_um": 0.0}, "voxel_um"),
        ({"fixed_mask": np.ones((4, 4, 4), bool)}, "fixed_mask"),
    ],
)
def test_register_rigid_names_the_bad_argument(kwargs, name):
    args = {"baseline": np.zeros((8, 8, 8)), "followup": np.zeros((8, 8, 8)), "voxel_um": 1.0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        register_rigid(**args)


def test_parameters_reject_a_bad_sampling_fraction():
    with pytest.raises(ValueError, match="sampling_fraction"):
        RegistrationParameters(sampling_fraction=0.0)


def test_metric_samples_are_capped_per_pyramid_level():
    from analysis.registration import _sampling_per_level

    params = RegistrationParameters(sampling_fraction=0.2, max_samples=100_000)
    # Shrink factors 4, 2, 1: 100 000 samples of 384³ / 4³, / 2³, / 1.
    fractions = _sampling_per_level(params, 384**3)
    assert fractions == pytest.approx([100_000 * f**3 / 384**3 for f in (4, 2, 1)])
    # A small volume keeps the asked fraction at every level.
    assert _sampling_per_level(params, 64**3) == [0.2, 0.2, 0.2]
    with pytest.raises(ValueError, match="max_samples"):
        RegistrationParameters(max_samples=10)


def test_parameters_reject_a_bad_thread_count():
    with pytest.raises(ValueError, match="threads"):
        RegistrationParameters(threads=0)


def test_resample_rejects_an_unknown_order(baseline):
    with pytest.raises(ValueError, match="order"):
        resample_onto(baseline, RigidTransform(), baseline.shape, VOXEL_UM, order=2)

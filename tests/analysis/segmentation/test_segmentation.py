"""Segmentation (filter + threshold), compartments and user regions."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.segmentation import (
    SegmentationParameters,
    combine_regions,
    segment_bone,
    separate_compartments,
    slab_region,
)


def _points(shape):
    nz, ny, nx = shape
    y, x = np.meshgrid(np.arange(ny) - (ny - 1) / 2, np.arange(nx) - (nx - 1) / 2, indexing="ij")
    return np.broadcast_to(np.hypot(x, y), shape)


def test_fixed_threshold_in_mgha_is_applied_and_recorded():
    rho = np.zeros((10, 10, 10), dtype=np.float32)
    rho[3:7] = 1000.0
    params = SegmentationParameters(sigma_vox=0.0, threshold_mgha_cm3=499.0)
    seg = segment_bone(rho, params)
    assert seg.bone.sum() == 400
    assert seg.method == "fixed" and seg.threshold == 499.0
    assert seg.to_dict() == {
        "threshold": 499.0, "method": "fixed", "sigma_vox": 0.0, "truncate": 3.0,
        "threshold_mgha_cm3": 499.0,
    }  # fmt: skip


def test_gaussian_filter_places_a_plate_edge_at_the_half_level():
    # Smoothing a step keeps the 50 % level on the edge: a mid threshold keeps the
    # plate's thickness, while a high threshold thins it.
    rho = np.zeros((20, 8, 8), dtype=np.float32)
    rho[6:14] = 1000.0
    mid = segment_bone(rho, SegmentationParameters(sigma_vox=1.5, threshold_mgha_cm3=500.0))
    high = segment_bone(rho, SegmentationParameters(sigma_vox=1.5, threshold_mgha_cm3=900.0))
    assert mid.bone[:, 4, 4].sum() == 8
    assert high.bone[:, 4, 4].sum() < 8


def test_otsu_splits_a_noisy_bimodal_volume():
    rng = np.random.default_rng(7)
    truth = np.zeros((16, 16, 16), dtype=bool)
    truth[4:12, 4:12, 4:12] = True
    grey = np.where(truth, 3.0, 1.0) + rng.normal(0.0, 0.2, truth.shape)
    seg = segment_bone(grey, SegmentationParameters(sigma_vox=0.0))
    assert seg.method == "otsu"
    assert 1.6 < seg.threshold < 2.4
    assert (seg.bone == truth).mean() > 0.999


def test_otsu_region_limits_the_histogram_and_the_bone():
    grey = np.zeros((8, 8, 8))
    grey[:, :, :4] = 10.0  # bright outside the region
    grey[2:6, 2:6, 4:8] = 5.0
    region = np.zeros(grey.shape, dtype=bool)
    region[:, :, 4:] = True
    seg = segment_bone(grey, SegmentationParameters(sigma_vox=0.0), region=region)
    assert 0.0 < seg.threshold < 5.0
    assert seg.bone.sum() == 4 * 4 * 4


def test_compartments_of_a_shaft_with_trabeculae():
    shape = (6, 72, 72)
    r = _points(shape)
    cortex = (r <= 24) & (r > 16)
    bone = cortex.copy()
    bone[:, 34:37, :] |= r[:, 34:37, :] < 17  # two 3-voxel trabeculae across the medulla
    bone[:, :, 34:37] |= r[:, :, 34:37] < 17
    comp = separate_compartments(bone)
    medulla = r <= 16
    assert comp.envelope.sum() == pytest.approx((r <= 24).sum(), rel=0.01)
    assert comp.trabecular.sum() == pytest.approx(medulla.sum(), rel=0.02)
    # The marrow closing swallows the trabeculae up to the endosteal surface, but for
    # their last voxel where they meet a flat stretch of it (a ball from the cortex
    # still touches it): 3 of the 32 voxels of each trabecula's two ends per slice.
    trabecular_bone = (comp.trabecular & bone).sum()
    assert trabecular_bone == (medulla & bone).sum() - 12 * shape[0]
    assert (comp.cortical & cortex).sum() == cortex.sum()
    assert not (comp.cortical & comp.trabecular).any()
    assert comp.parameters["close_radius_vox"] == 3
    assert comp.parameters["cortical_thickness_vox"] == pytest.approx(8.0, abs=0.3)
    assert comp.parameters["marrow_close_radius_vox"] == 12  # ceil(1.5 T)


def test_slab_and_combined_regions():
    slab = slab_region((10, 4, 4), 2, 5)
    assert slab.sum() == 3 * 16 and slab[2:5].all()
    drawn = np.zeros((10, 4, 4), dtype=bool)
    drawn[:, :2] = True
    assert combine_regions(slab, drawn).sum() == 3 * 8


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: segment_bone(np.zeros((4, 4))), "volume"),
        (lambda: segment_bone(np.full((4, 4, 4), np.nan)), "finite"),
        (lambda: segment_bone(np.zeros((4, 4, 4))), "constant"),
        (lambda: segment_bone(np.zeros((4, 4, 4)), region=np.ones((4, 4), bool)), "region"),
        (lambda: SegmentationParameters(sigma_vox=-1), "sigma_vox"),
        (lambda: SegmentationParameters(threshold_mgha_cm3=float("inf")), "threshold_mgha_cm3"),
        (
            lambda: separate_compartments(np.ones((4, 4, 4), bool), marrow_close_radius_vox=0),
            "marrow_close_radius",
        ),
        (lambda: slab_region((10, 4, 4), 5, 5), "start, stop"),
        (lambda: combine_regions(), "regions"),
        (lambda: combine_regions(np.ones((2, 2)), np.ones((2, 3))), r"regions\[1\]"),
    ],
)
def test_bad_arguments_are_named(call, name):
    with pytest.raises(ValueError, match=name):
        call()

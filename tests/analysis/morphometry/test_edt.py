"""Exact squared Euclidean distance transform."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from analysis.morphometry import squared_edt
from analysis.morphometry.edt import INFINITE


@pytest.mark.parametrize("shape", [(9, 1, 5), (17, 23, 11), (30, 30, 30)])
def test_matches_scipy_exactly_on_random_structures(shape):
    mask = np.random.default_rng(sum(shape)).random(shape) < 0.95
    mask[0, 0, 0] = False  # at least one background voxel
    expected = np.rint(ndimage.distance_transform_edt(mask) ** 2).astype(np.int64)
    np.testing.assert_array_equal(squared_edt(mask), expected)


def test_plate_has_squared_layer_distances():
    plate = np.zeros((9, 4, 4), dtype=bool)
    plate[1:8] = True
    assert squared_edt(plate)[:, 2, 2].tolist() == [0, 1, 4, 9, 16, 9, 4, 1, 0]


def test_array_border_is_not_background():
    mask = np.ones((6, 6, 6), dtype=bool)
    mask[0, 0, 0] = False
    assert squared_edt(mask)[5, 5, 5] == 3 * 25


def test_volume_without_background_is_infinite():
    assert (squared_edt(np.ones((3, 4, 5), dtype=bool)) == INFINITE).all()


def test_rejects_a_2d_mask():
    with pytest.raises(ValueError, match="mask"):
        squared_edt(np.ones((4, 4), dtype=bool))

"""Local thickness of formation packages (Hildebrand & Rüegsegger 1997)."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.remodelling import local_thickness, mean_thickness


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_plate_across_the_volume_is_k_voxels_thick(k):
    mask = np.zeros((16, 12, 10), dtype=bool)
    mask[4 : 4 + k] = True
    thickness = local_thickness(mask)
    np.testing.assert_allclose(thickness[mask], k)
    assert (thickness[~mask] == 0).all()


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_thickness_does_not_depend_on_the_plate_axis(axis):
    mask = np.zeros((20, 20, 20), dtype=bool)
    index = [slice(None)] * 3
    index[axis] = slice(6, 9)
    mask[tuple(index)] = True
    assert mean_thickness(mask) == pytest.approx(3.0)


def test_finite_plate_is_a_little_thinner_at_its_rim():
    # Balls of diameter 3 do not reach the corner voxels of a 3-voxel plate, in the
    # continuous definition as in the digital one.
    mask = np.zeros((12, 40, 40), dtype=bool)
    mask[4:7, 5:35, 5:35] = True
    assert 2.9 < mean_thickness(mask) < 3.0


def test_empty_structure_has_nan_mean_thickness():
    assert np.isnan(mean_thickness(np.zeros((5, 5, 5), dtype=bool)))


def test_single_voxel_is_one_voxel_thick():
    mask = np.zeros((5, 5, 5), dtype=bool)
    mask[2, 2, 2] = True
    assert mean_thickness(mask) == pytest.approx(1.0)


def test_local_thickness_rejects_a_2d_mask():
    with pytest.raises(ValueError, match="mask"):
        local_thickness(np.ones((4, 4), dtype=bool))

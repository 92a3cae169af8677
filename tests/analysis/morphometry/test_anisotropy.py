"""Mean intercept length and the degree of anisotropy."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.morphometry import DIRECTIONS, fabric_tensor

from .phantoms import parallel_plates, rod_cell


def test_direction_set_is_the_13_lines_of_the_26_neighbourhood():
    assert DIRECTIONS.shape == (13, 3)
    assert len({tuple(d) for d in DIRECTIONS} | {tuple(-d) for d in DIRECTIONS}) == 26


def test_cubic_rod_lattice_is_isotropic():
    fabric = fabric_tensor(np.tile(rod_cell(16, 5.0), (3, 3, 3)))
    assert fabric.da == pytest.approx(1.0, abs=0.02)


def test_plates_have_their_intercepts_along_the_normal():
    # Plates normal to z, 5 voxels every 16: one bone entry per period along z,
    # 4 on each 63-voxel test line; none along y or x.
    fabric = fabric_tensor(parallel_plates(4, 5, 16, side=32))
    assert fabric.mil[0] == pytest.approx(63 / 4)
    assert np.isinf(fabric.mil[1]) and np.isinf(fabric.mil[2])
    assert fabric.da > 10.0
    # The shortest MIL axis (smallest semi-axis) is z: (1, 0, 0) in (z, y, x).
    assert abs(fabric.eigenvectors[:, -1][0]) == pytest.approx(1.0, abs=1e-6)


def test_stretched_lattice_is_anisotropic_along_the_stretch():
    cell = rod_cell(12, 4.0)
    stretched = np.repeat(np.tile(cell, (3, 3, 3)), 2, axis=0)  # twice as long along z
    fabric = fabric_tensor(stretched)
    assert fabric.da > 1.3
    assert abs(fabric.eigenvectors[:, 0][0]) > 0.99  # longest MIL along z


def test_region_restricts_the_test_lines():
    plates = parallel_plates(4, 5, 16, side=32)
    region = np.zeros(plates.shape, dtype=bool)
    region[:32] = True
    # Lines within the first 32 planes: 31 steps, 2 bone entries.
    assert fabric_tensor(plates, region).mil[0] == pytest.approx(31 / 2)


def test_structure_without_enough_intercepts_is_rejected():
    with pytest.raises(ValueError, match="too few directions"):
        fabric_tensor(np.zeros((8, 8, 8), dtype=bool))
    with pytest.raises(ValueError, match="mask"):
        fabric_tensor(np.zeros((8, 8), dtype=bool))

"""Euler characteristic and Conn.D (Odgaard & Gundersen)."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.measure import euler_number

from analysis.morphometry import connectivity_density, euler_characteristic, euler_delta

from .phantoms import rod_cell


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_euler_characteristic_matches_scikit_image_26_connected(seed):
    mask = np.random.default_rng(seed).random((14, 15, 16)) < 0.3
    assert euler_characteristic(mask) == euler_number(mask, connectivity=3)


def test_euler_characteristic_of_simple_shapes():
    cube = np.zeros((7, 7, 7), dtype=bool)
    cube[1:6, 1:6, 1:6] = True
    assert euler_characteristic(cube) == 1
    hollow = cube.copy()
    hollow[3, 3, 3] = False  # a cavity
    assert euler_characteristic(hollow) == 2
    torus = cube.copy()
    torus[:, 3, 3] = False  # a tunnel through the cube
    assert euler_characteristic(torus) == 0
    diagonal = np.zeros((2, 2, 2), dtype=bool)
    diagonal[0, 0, 0] = diagonal[1, 1, 1] = True  # corner-touching voxels: one component
    assert euler_characteristic(diagonal) == 1


def test_two_dimensional_euler_characteristic_is_8_connected():
    ring = np.ones((3, 3), dtype=bool)
    ring[1, 1] = False
    assert euler_characteristic(ring) == 0
    assert euler_characteristic(np.eye(4, dtype=bool)) == 1


@pytest.mark.parametrize("cells", [1, 2, 5])
def test_rod_lattice_edge_corrected_euler_is_minus_two_per_cell(cells):
    lattice = np.tile(rod_cell(12, 4.0), (cells, cells, cells))
    assert euler_delta(lattice) == pytest.approx(-2.0 * cells**3)


def test_rod_lattice_conn_d_is_two_per_cell_volume():
    cells = 5
    lattice = np.tile(rod_cell(12, 4.0), (cells, cells, cells))
    voxel_um = 10.0
    cell_mm3 = (12 * voxel_um * 1e-3) ** 3
    # Conn.D = (1 − Δχ)/TV: the "1" is one connected object, 1/(2 n³) of the total.
    assert connectivity_density(lattice, voxel_um) == pytest.approx(2.0 / cell_mm3, rel=0.015)


def test_solid_block_has_no_connections():
    # χ = 1, six faces of χ 1, twelve edges of one run, eight corners: Δχ = 0,
    # so Conn.D = 1 / TV (one object, no connections).
    block = np.ones((6, 6, 6), dtype=bool)
    assert euler_delta(block) == 0.0
    assert connectivity_density(block, 50.0) == pytest.approx(1.0 / 0.3**3)


def test_euler_delta_rejects_a_2d_mask():
    with pytest.raises(ValueError, match="mask"):
        euler_delta(np.ones((4, 4), dtype=bool))
    with pytest.raises(ValueError, match="mask"):
        euler_characteristic(np.ones(4, dtype=bool))

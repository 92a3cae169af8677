"""Cortical geometry of a cylindrical shell, and mineral densities."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.morphometry import cortical_geometry, mineral_density

from .phantoms import shell

VOXEL_UM = 10.0
OUTER, INNER = 24.0, 16.0  # voxels


@pytest.fixture(scope="module")
def geometry():
    return cortical_geometry(shell((20, 72, 72), OUTER, INNER), VOXEL_UM)


def test_shell_areas_within_two_percent(geometry):
    pixel_mm2 = (VOXEL_UM * 1e-3) ** 2
    assert geometry.tt_ar_mm2 == pytest.approx(np.pi * OUTER**2 * pixel_mm2, rel=0.02)
    assert geometry.ma_ar_mm2 == pytest.approx(np.pi * INNER**2 * pixel_mm2, rel=0.02)
    ct_ar = np.pi * (OUTER**2 - INNER**2) * pixel_mm2
    assert geometry.ct_ar_mm2 == pytest.approx(ct_ar, rel=0.02)
    assert geometry.ct_ar_tt_ar == pytest.approx(1 - (INNER / OUTER) ** 2, rel=0.02)
    assert geometry.n_slices == 20


def test_shell_thickness_within_two_percent(geometry):
    assert geometry.ct_th_um == pytest.approx((OUTER - INNER) * VOXEL_UM, rel=0.02)


def test_cortical_geometry_rejects_empty_and_bad_input():
    with pytest.raises(ValueError, match="no bone"):
        cortical_geometry(np.zeros((3, 8, 8), bool), VOXEL_UM)
    with pytest.raises(ValueError, match="voxel_um"):
        cortical_geometry(shell((3, 40, 40), 10, 6), 0.0)
    with pytest.raises(ValueError, match="cortex"):
        cortical_geometry(np.ones((8, 8), bool), VOXEL_UM)


def test_bmd_and_tmd_are_region_and_bone_means():
    rho = np.zeros((4, 10, 10))
    bone = np.zeros(rho.shape, dtype=bool)
    bone[:, :5] = True
    rho[bone] = 1100.0
    rho[~bone] = 100.0
    bmd, tmd = mineral_density(rho, bone)
    assert (bmd, tmd) == (pytest.approx(600.0), pytest.approx(1100.0))
    region = np.zeros(rho.shape, dtype=bool)
    region[:, 3:7] = True  # half bone, half marrow
    assert mineral_density(rho, bone, region) == (pytest.approx(600.0), pytest.approx(1100.0))
    region[:, :] = False
    region[:, 8:] = True  # marrow only
    bmd, tmd = mineral_density(rho, bone, region)
    assert bmd == pytest.approx(100.0) and np.isnan(tmd)


def test_mineral_density_rejects_mismatched_or_non_finite_input():
    with pytest.raises(ValueError, match="same shape"):
        mineral_density(np.zeros((2, 2, 2)), np.zeros((2, 2, 3), bool))
    with pytest.raises(ValueError, match="finite"):
        mineral_density(np.full((2, 2, 2), np.nan), np.zeros((2, 2, 2), bool))

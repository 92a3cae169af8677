"""Shared fixtures for the reconstruction-engine tests (small analytic cases, no database)."""

import numpy as np
import pytest

from recon.engine.geometry import ConeBeamGeometry, ParallelBeamGeometry, default_volume

from .phantoms import project, shepp_logan_3d

N = 48


@pytest.fixture(scope="session")
def cone_geometry() -> ConeBeamGeometry:
    """48² detector, magnification 2, 2° steps over a full turn (cone half-angle ≈ 4°)."""
    return ConeBeamGeometry((N, N), 20.0, np.arange(0.0, 360.0, 2.0), sod_um=3000.0, sdd_um=6000.0)


@pytest.fixture(scope="session")
def parallel_geometry() -> ParallelBeamGeometry:
    return ParallelBeamGeometry((N, N), 10.0, np.arange(0.0, 180.0, 1.0))


@pytest.fixture(scope="session")
def cone_shepp_logan(cone_geometry):
    """(phantom parts, exact projections) of the Shepp–Logan phantom in cone beam."""
    vol = default_volume(cone_geometry)
    parts = shepp_logan_3d(0.45 * N * vol.voxel_um)
    return parts, project(parts, cone_geometry)

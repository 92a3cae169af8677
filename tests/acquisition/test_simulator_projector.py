"""The simulator's projector against analytic line integrals and point positions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from acquisition.simulator import forward_project, line_integrals
from recon.engine.geometry import ConeBeamGeometry

N = 64
VOXEL_UM = 10.0
MU = 2.0  # 1/cm


def _voxelised(inside, sub: int = 4) -> np.ndarray:
    """Partial-volume volume (fraction of 4³ sub-samples inside), coordinates in voxels."""
    c = (np.arange(N * sub) + 0.5) / sub - N / 2
    fine = inside(c[None, None, :], c[None, :, None], c[:, None, None]).astype(np.float32)
    return fine.reshape(N, sub, N, sub, N, sub).mean(axis=(1, 3, 5))


def _geometry(angles=(0.0, 33.0, 90.0), **kw) -> ConeBeamGeometry:
    return ConeBeamGeometry((65, 65), 50.0, angles, sod_um=20_000.0, sdd_um=100_000.0, **kw)


def test_central_ray_through_a_sphere_is_mu_times_diameter():
    radius = 20.0  # voxels
    mu = MU * _voxelised(lambda x, y, z: x**2 + y**2 + z**2 <= radius**2)
    for k in range(3):
        p = line_integrals(mu, VOXEL_UM, _geometry(), k)
        expected = MU * 2 * radius * VOXEL_UM * 1e-4
        assert p[32, 32] == pytest.approx(expected, rel=0.01)


def test_off_centre_ray_through_a_cylinder_is_mu_times_chord():
    radius = 22.0  # voxels; cylinder along z, infinite within the volume
    mu = MU * _voxelised(lambda x, y, z: (x**2 + y**2 <= radius**2) & (z == z))
    g = _geometry(angles=(0.0,))
    p = line_integrals(mu, VOXEL_UM, g, 0)
    # Row 32 is the central plane (v = 0): the in-plane distance of the ray through
    # column c from the axis is d = sod · sin(atan(u / sdd)).
    for col in (32, 40, 44):
        u = (col - 32) * g.pixel_um
        d = g.sod_um * math.sin(math.atan(u / g.sdd_um))
        chord = 2.0 * math.sqrt((radius * VOXEL_UM) ** 2 - d**2)
        assert p[32, col] == pytest.approx(MU * chord * 1e-4, rel=0.01)


def _blob_centroid(point_vox, g: ConeBeamGeometry, k: int) -> tuple[float, float]:
    x0, y0, z0 = point_vox
    mu = _voxelised(lambda x, y, z: (x - x0) ** 2 + (y - y0) ** 2 + (z - z0) ** 2 <= 1.5**2)
    p = line_integrals(mu, VOXEL_UM, g, k).astype(np.float64)
    rows, cols = np.indices(p.shape)
    return float((p * rows).sum() / p.sum()), float((p * cols).sum() / p.sum())


def _predicted(point_um, g: ConeBeamGeometry, k: int) -> tuple[float, float]:
    """conventions.md, written out: rotate into the source frame, magnify, tilt, shift."""
    x, y, z = point_um
    t = math.radians(g.angles_deg[k])
    xr = x * math.cos(t) + y * math.sin(t)
    yr = -x * math.sin(t) + y * math.cos(t)
    m = g.sdd_um / (g.sod_um + yr)
    a, b = xr * m, z * m
    psi = math.radians(g.detector_tilt_deg)
    u = a * math.cos(psi) + b * math.sin(psi)
    v = -a * math.sin(psi) + b * math.cos(psi)
    return (
        (v - g.offset_v_um) / g.pixel_um + (g.nrows - 1) / 2,
        (u - g.offset_u_um) / g.pixel_um + (g.ncols - 1) / 2,
    )


@pytest.mark.parametrize("axis_offset_px, tilt_deg", [(0.0, 0.0), (3.0, 0.0), (-2.5, 1.5)])
def test_point_blob_lands_where_the_geometry_predicts(axis_offset_px, tilt_deg):
    g = _geometry(angles=(0.0, 90.0, 200.0), detector_tilt_deg=tilt_deg).with_axis_offset(
        axis_offset_px
    )
    point_vox = (8.0, -5.0, 6.0)
    point_um = tuple(c * VOXEL_UM for c in point_vox)
    for k in range(3):
        row, col = _blob_centroid(point_vox, g, k)
        exp_row, exp_col = _predicted(point_um, g, k)
        assert row == pytest.approx(exp_row, abs=0.05)
        assert col == pytest.approx(exp_col, abs=0.05)


def test_the_rotation_axis_projects_onto_the_offset_column():
    g = _geometry(angles=(0.0, 77.0)).with_axis_offset(4.0)
    for k in range(2):
        row, col = _blob_centroid((0.0, 0.0, 0.0), g, k)
        assert col == pytest.approx((g.ncols - 1) / 2 + 4.0, abs=0.05)
        assert row == pytest.approx((g.nrows - 1) / 2, abs=0.05)


def test_forward_project_stacks_every_angle_and_empty_volume_gives_zero():
    g = _geometry()
    stack = forward_project(np.zeros((8, 8, 8), np.float32), VOXEL_UM, g)
    assert stack.shape == (3, 65, 65)
    assert not stack.any()


def test_bad_inputs_name_the_argument():
    g = _geometry()
    with pytest.raises(ValueError, match="mu_per_cm"):
        line_integrals(np.zeros((8, 8)), VOXEL_UM, g, 0)
    with pytest.raises(ValueError, match="voxel_um"):
        line_integrals(np.zeros((8, 8, 8)), -1.0, g, 0)
    with pytest.raises(ValueError, match="angle_index"):
        line_integrals(np.zeros((8, 8, 8)), VOXEL_UM, g, 3)

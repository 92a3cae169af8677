"""The conventions of docs/conventions.md, checked in the module that owns them."""

import dataclasses

import numpy as np
import pytest
from skimage.transform import radon

from recon.engine.fdk import fbp
from recon.engine.geometry import (
    ConeBeamGeometry,
    ParallelBeamGeometry,
    VolumeGeometry,
    default_volume,
)


def test_voxel_centres_follow_the_convention():
    vol = VolumeGeometry((4, 5, 6), 2.0)
    np.testing.assert_allclose(vol.x_um(), [-5, -3, -1, 1, 3, 5])
    np.testing.assert_allclose(vol.y_um(), [-4, -2, 0, 2, 4])
    np.testing.assert_allclose(vol.z_um(), [-3, -1, 1, 3])
    assert vol.voxel_index((1.0, 0.0, -3.0)) == (0.0, 2.0, 3.0)


def test_detector_pixel_centres_and_axis_column():
    g = ParallelBeamGeometry((3, 4), 10.0, [0.0], offset_u_um=-5.0, offset_v_um=2.0)
    np.testing.assert_allclose(g.u_um(), [-20, -10, 0, 10])
    np.testing.assert_allclose(g.v_um(), [-8, 2, 12])
    assert g.axis_offset_px == 0.5
    assert g.axis_column == 2.0
    assert g.with_axis_offset(-1.5).offset_u_um == 15.0


def test_source_and_detector_positions_at_ninety_degrees():
    g = ConeBeamGeometry((1, 3), 10.0, [90.0], sod_um=100.0, sdd_um=300.0)
    origins, directions = g.rays(0)
    # S(90°) = R(90°)·(0, −100, 0) = (100, 0, 0); the central ray points along −x.
    np.testing.assert_allclose(origins[0, 1], [100.0, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(directions[0, 1], [-1.0, 0.0, 0.0], atol=1e-12)
    # The u axis is R(90°)·(1, 0, 0) = +y: column 2 (u = +10) sees +y.
    assert directions[0, 2, 1] > 0


def test_point_projects_where_its_ray_passes():
    g = ConeBeamGeometry(
        (32, 40),
        15.0,
        [0.0, 37.0, 200.0],
        sod_um=1000.0,
        sdd_um=2500.0,
        offset_u_um=12.0,
        offset_v_um=-7.0,
        detector_tilt_deg=2.0,
    )
    point = np.array([40.0, -25.0, 30.0])
    for a in range(g.n_angles):
        row, col = g.project_point(tuple(point), a)
        origins, directions = g.rays(a)
        # Interpolate the ray directions at (row, col): the ray must pass the point.
        r0, c0 = int(row), int(col)
        fr, fc = row - r0, col - c0
        d = (
            directions[r0, c0] * (1 - fr) * (1 - fc)
            + directions[r0, c0 + 1] * (1 - fr) * fc
            + directions[r0 + 1, c0] * fr * (1 - fc)
            + directions[r0 + 1, c0 + 1] * fr * fc
        )
        to_point = point - origins[0, 0]
        d /= np.linalg.norm(d)
        miss = np.linalg.norm(np.cross(to_point, d))
        assert miss < 1e-3 * np.linalg.norm(to_point)


def test_crop_rows_keeps_pixels_in_place():
    g = ConeBeamGeometry((10, 8), 5.0, [0.0], sod_um=100.0, sdd_um=200.0, offset_v_um=3.0)
    sub = g.crop_rows(3, 7)
    np.testing.assert_allclose(sub.v_um(), g.v_um()[3:7])


def test_slab_keeps_voxels_in_place():
    vol = VolumeGeometry((10, 6, 6), 3.0, (1.0, 0.0, 0.0))
    np.testing.assert_allclose(vol.slab(4, 9).z_um(), vol.z_um()[4:9])
    sub = vol.sub_grid(y=slice(1, 4), x=slice(2, 6))
    np.testing.assert_allclose(sub.x_um(), vol.x_um()[2:6])
    np.testing.assert_allclose(sub.y_um(), vol.y_um()[1:4])


def test_default_volume_has_voxel_pixel_over_magnification():
    g = ConeBeamGeometry((16, 24), 30.0, [0.0], sod_um=100.0, sdd_um=300.0)
    vol = default_volume(g)
    assert vol.shape == (16, 24, 24)
    assert vol.voxel_um == pytest.approx(10.0)


def _centroid(image: np.ndarray, row: int, col: int) -> tuple[float, float]:
    """Intensity centroid of the 3 × 3 neighbourhood of ``(row, col)``."""
    patch = image[row - 1 : row + 2, col - 1 : col + 2]
    rr, cc = np.mgrid[-1:2, -1:2]
    return row + float(np.sum(rr * patch) / patch.sum()), col + float(
        np.sum(cc * patch) / patch.sum()
    )


@pytest.mark.parametrize("n", [32, 33])
def test_half_pixel_convention_against_scikit_image(n):
    """Ours (and ASTRA's) grid centre is (N − 1)/2; scikit-image's is N // 2.

    ``radon(circle=True)`` turns about pixel ``(N//2, N//2)``, which projects onto
    column ``N//2``; its pixel ``(r, c)`` lies at ``x = c − N//2``,
    ``y = N//2 − r`` in our frame (its rows run along −y).  So its sinogram is
    ours with ``axis_offset_px = N//2 − (N − 1)/2`` (0.5 for even N, 0 for odd),
    and our grid shifted by that offset and flipped in y is its image grid.  A
    point must come back at its own pixel to a few hundredths of a pixel: a
    half-pixel slip in either convention moves it by 0.5.
    """
    image = np.zeros((n, n))
    r0, c0 = n // 2 - 5, n // 2 + 7
    image[r0, c0] = 1.0
    angles = np.arange(0.0, 180.0, 1.0)
    sino = radon(image, angles, circle=True).T  # (angles, cols)
    assert sino.shape == (angles.size, n)
    assert np.argmax(sino[0]) == c0  # θ = 0: u = x = c − N//2 on column N//2 + x
    assert np.argmax(sino[90]) == n // 2 + (n // 2 - r0)  # θ = 90°: u = y = N//2 − r

    offset = n // 2 - (n - 1) / 2
    assert offset == (0.5 if n % 2 == 0 else 0.0)
    geometry = ParallelBeamGeometry((1, n), 1.0, angles).with_axis_offset(offset)
    assert geometry.axis_column == n // 2
    grid = VolumeGeometry((1, n, n), 1.0, (0.0, offset, -offset))
    rec = np.flipud(fbp(sino[:, None, :], geometry, grid, backend="cpu")[0])

    assert np.unravel_index(np.argmax(rec), rec.shape) == (r0, c0)
    row, col = _centroid(rec, r0, c0)
    assert row == pytest.approx(r0, abs=0.03)
    assert col == pytest.approx(c0, abs=0.03)
    # Our own default: with no offset the axis is column (N − 1)/2, as in ASTRA.
    assert ParallelBeamGeometry((1, n), 1.0, angles).axis_column == (n - 1) / 2


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"detector_shape": (0, 4)}, "detector_shape"),
        ({"pixel_um": -1.0}, "pixel_um"),
        ({"angles_deg": []}, "angles_deg"),
        ({"sdd_um": 50.0}, "sdd_um"),
        ({"sod_um": 0.0}, "sod_um"),
    ],
)
def test_bad_geometry_names_the_argument(kwargs, argument):
    base = {
        "detector_shape": (4, 4),
        "pixel_um": 1.0,
        "angles_deg": [0.0],
        "sod_um": 100.0,
        "sdd_um": 200.0,
    }
    base.update(kwargs)
    with pytest.raises(ValueError, match=argument):
        ConeBeamGeometry(**base)


def test_geometries_are_frozen():
    g = ParallelBeamGeometry((4, 4), 1.0, [0.0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.pixel_um = 2.0  # type: ignore[misc]

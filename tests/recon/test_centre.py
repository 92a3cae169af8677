"""Rotation centre and detector tilt recovered from data.

The projections come from exact ray–ellipsoid line integrals at the pixel
centres (:mod:`tests.recon.phantoms`), not from the engine's voxel-driven
projector, so the estimate is not helped by an inverse crime.
"""

import numpy as np
import pytest

from recon.engine.centre import CentreEstimate, find_axis_offset, find_centre, find_tilt
from recon.engine.fdk import fdk
from recon.engine.geometry import ConeBeamGeometry, ParallelBeamGeometry, default_volume

from .phantoms import Ellipsoid, project, shepp_logan_3d, voxelise

N = 48
ANGLES_360 = np.arange(0.0, 360.0, 2.0)


def _cone(**kwargs) -> ConeBeamGeometry:
    return ConeBeamGeometry((N, N), 20.0, ANGLES_360, sod_um=3000.0, sdd_um=6000.0, **kwargs)


def _blobs() -> list[Ellipsoid]:
    """Smooth, band-limited-enough objects (the thin Shepp–Logan skull aliases at 48²)."""
    return [
        Ellipsoid(1.0, (50.0, 20.0, 80.0), (30.0, 30.0, 30.0)),
        Ellipsoid(1.0, (-60.0, 10.0, -70.0), (30.0, 40.0, 30.0)),
        Ellipsoid(0.5, (0.0, -60.0, 10.0), (60.0, 40.0, 120.0)),
    ]


@pytest.mark.parametrize("offset_px", [3.3, -2.7, 0.4])
def test_cone_beam_axis_offset_within_a_quarter_pixel(offset_px):
    truth = _cone().with_axis_offset(offset_px)
    projections = project(shepp_logan_3d(0.4 * N * 10.0), truth)
    found = find_axis_offset(projections, _cone())
    assert found == pytest.approx(offset_px, abs=0.25)


@pytest.mark.parametrize("angles", [np.arange(0.0, 181.0, 1.0), ANGLES_360])
def test_parallel_beam_axis_offset_within_a_quarter_pixel(angles):
    nominal = ParallelBeamGeometry((N, N), 10.0, angles)
    projections = project(_blobs(), nominal.with_axis_offset(-3.6))
    assert find_axis_offset(projections, nominal) == pytest.approx(-3.6, abs=0.25)


@pytest.mark.parametrize("beam", ["parallel", "cone"])
@pytest.mark.parametrize("tilt_deg", [1.5, -2.0])
def test_detector_tilt_recovered(beam, tilt_deg):
    nominal = ParallelBeamGeometry((N, N), 10.0, ANGLES_360) if beam == "parallel" else _cone()
    truth = CentreEstimate(1.6, tilt_deg).apply(nominal)
    projections = project(_blobs(), truth)
    estimate = find_centre(projections, nominal, tilt=True)
    assert estimate.axis_offset_px == pytest.approx(1.6, abs=0.25)
    assert estimate.detector_tilt_deg == pytest.approx(tilt_deg, abs=0.15)


def test_untilted_detector_gives_zero_tilt():
    nominal = _cone()
    projections = project(_blobs(), nominal.with_axis_offset(2.0))
    assert find_tilt(projections, nominal, 2.0) == pytest.approx(0.0, abs=0.05)


def test_found_centre_is_what_reconstruction_uses():
    truth = _cone().with_axis_offset(4.2)
    parts = shepp_logan_3d(0.4 * N * 10.0)
    projections = project(parts, truth)
    estimate = find_centre(projections, _cone())
    stored = estimate.to_dict()
    assert stored == {"axis_offset_px": estimate.axis_offset_px, "detector_tilt_deg": 0.0}
    used = estimate.apply(_cone())
    assert used.axis_offset_px == pytest.approx(estimate.axis_offset_px)
    volume = default_volume(truth)
    reference = voxelise(parts, volume)[16:32]
    good = fdk(projections, used, volume, backend="cpu")[16:32]
    nominal = fdk(projections, _cone(), volume, backend="cpu")[16:32]
    error_good = np.sqrt(np.mean((good - reference) ** 2))
    error_nominal = np.sqrt(np.mean((nominal - reference) ** 2))
    assert error_good < 0.6 * error_nominal


def test_too_short_scan_is_rejected():
    nominal = ParallelBeamGeometry((N, N), 10.0, np.arange(0.0, 90.0, 1.0))
    projections = project(_blobs(), nominal)
    with pytest.raises(ValueError, match="180°"):
        find_axis_offset(projections, nominal)


def test_nan_projections_are_rejected():
    nominal = _cone()
    projections = np.zeros(nominal.projection_shape, np.float32)
    projections[3, nominal.nrows // 2, 5] = np.nan  # in the rows the search reads
    with pytest.raises(ValueError, match="NaN"):
        find_centre(projections, nominal)


class _DiskLike:
    """A projection stack that, like an ``h5py.Dataset``, can be sliced but refuses to be
    read whole (``np.asarray`` of it fails)."""

    def __init__(self, data: np.ndarray) -> None:
        self.data, self.shape, self.reads = data, data.shape, []

    def __getitem__(self, index):
        self.reads.append(index)
        return self.data[index]

    def __array__(self, *args, **kwargs):
        raise AssertionError("the whole projection stack was read into memory")


def test_centre_and_tilt_read_only_the_rows_and_frames_they_need():
    nominal = _cone()
    projections = project(_blobs(), nominal)
    stack = _DiskLike(projections)
    estimate = find_centre(stack, nominal, tilt=True)
    assert estimate.axis_offset_px == pytest.approx(
        find_centre(projections, nominal, tilt=True).axis_offset_px, abs=1e-9
    )
    assert stack.reads  # it read slices, never the whole stack

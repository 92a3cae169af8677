"""The demo protocol measures the phantom's trabecular BV/TV.

The embedded demo's scan (``acquisition/demo.py``: the demo instrument's driver
configuration and protocol, exposed by the simulated driver in the job's frame order),
reconstructed as a landed scan is (:func:`recon.pipeline.reconstruct_scan` with the
default parameters, centre found, the instrument's HA calibration), then segmented with
the default Gaussian (σ 1 voxel) at a fixed 500 mgHA/cm³ — half the phantom's
trabecular tissue density of 1000 mgHA/cm³, the volume-preserving level for
partial-volume edges — and measured inside the phantom's own trabecular VOI, so the
automatic compartment separation plays no part.

Measured: BV/TV 0.1624 (seed 3) and 0.1676 (seed 11) for a true 0.1600: +1.5 % and
+4.8 % (+1.7 % and +5.1 % with the FDK interpolation being reworked meanwhile). The
excess sits at the endocortical surface, where the cortex's blurred edge crosses the
threshold inside the VOI (one voxel further in: −5.1 % and −1.4 %); 180 projections
instead of 90 change it by less than 0.3 %. Hence a tolerance of 7 %: room for such
reconstruction changes, while a calibration 20 % off (≈ 20 % in BV/TV: the rods' own
fit, 18 % steeper than the instrument's, gives +19 %) fails, and a voxel other than the
phantom's fails the grid check.

Otsu's threshold, the automatic analysis' default, falls between soft tissue and bone
on these volumes (206 and 216 mgHA/cm³) and gives 0.315 and 0.304 in the same VOI: that,
and the compartment separation, not the protocol, make the demo's automatic BV/TV wrong.

Cost: two 90-projection scans of a 112³ phantom, about 10 s each on one core.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from acquisition.demo import DEMO_DRIVER_CONFIG, DEMO_HA_CALIBRATION, DEMO_PROTOCOL
from acquisition.drivers.base import FrameType, scan_frames
from acquisition.drivers.simulated import SimulatedXrayMicroscope
from acquisition.formats.scan import ScanData
from acquisition.models import ScanProtocol
from acquisition.phantom import BonePhantom, make_phantom
from analysis.segmentation import SegmentationParameters, segment_bone
from recon.pipeline import Calibration, ReconstructionParameters, reconstruct_scan
from tests.validation.simulate import centre_crop

SEEDS = (3, 11)
THRESHOLD_MGHA_CM3 = 500.0
TOLERANCE = 0.07  # relative; see the module docstring


def _demo_phantom(seed: int) -> BonePhantom:
    return make_phantom(
        DEMO_PROTOCOL["site"],
        tuple(DEMO_DRIVER_CONFIG["phantom_shape"]),
        DEMO_DRIVER_CONFIG["phantom_voxel_um"],
        seed=seed,
    )


def _demo_scan(phantom: BonePhantom, seed: int) -> ScanData:
    """Frames as the demo's acquisition job takes them (darks, flats, projections)."""
    driver = SimulatedXrayMicroscope(DEMO_DRIVER_CONFIG)
    driver.load_sample(phantom.mu_per_cm, phantom.voxel_um)
    settings = ScanProtocol(**DEMO_PROTOCOL).acquisition_settings(seed=seed)
    driver.prepare(settings)
    frames = list(scan_frames(driver, settings))

    def stack(kind: FrameType) -> np.ndarray:
        return np.stack([f.image for f in frames if f.kind == kind])

    projections = [f for f in frames if f.kind == FrameType.PROJECTION]
    return ScanData(
        path=Path(f"demo-{seed}"),
        format="nxtomo",
        projections=stack(FrameType.PROJECTION),
        flats=stack(FrameType.FLAT),
        darks=stack(FrameType.DARK),
        angles_deg=np.array([f.angle_deg for f in projections]),
        geometry=driver.geometry(),
    )


@pytest.fixture(scope="module", params=SEEDS)
def demo_volume(request, tmp_path_factory) -> tuple[BonePhantom, np.ndarray]:
    """A phantom and its demo scan's calibrated density (mgHA/cm³) on the phantom's grid."""
    seed = request.param
    phantom = _demo_phantom(seed)
    scratch = tmp_path_factory.mktemp(f"demo-{seed}")
    out = scratch / "volume.h5"
    result = reconstruct_scan(
        _demo_scan(phantom, seed),
        out,
        ReconstructionParameters(backend="cpu"),
        scratch_dir=scratch,
        calibration=Calibration.from_attenuation_line(
            DEMO_HA_CALIBRATION["ha_intercept_per_cm"],
            DEMO_HA_CALIBRATION["ha_slope_per_cm_per_mgha"],
        ),
    )
    assert result.voxel_size_um == pytest.approx(phantom.voxel_um)
    with h5py.File(out, "r") as f:
        density = f["volume/0"][...]
    # The 128³ reconstruction holds the 112³ phantom with shared voxel centres.
    return phantom, centre_crop(density, phantom.shape)


def test_demo_scan_measures_the_phantoms_trabecular_bv_tv(demo_volume):
    phantom, density = demo_volume
    fixed = segment_bone(density, SegmentationParameters(threshold_mgha_cm3=THRESHOLD_MGHA_CM3))
    measured = float(fixed.bone[phantom.trabecular_voi].mean())
    print(f"seed {phantom.seed}: BV/TV measured {measured:.4f}, true {phantom.bv_tv:.4f}")
    assert measured == pytest.approx(phantom.bv_tv, rel=TOLERANCE)

"""Scan a phantom with the simulated microscope, reconstruct it with the pipeline, calibrate.

The chain a lab runs on a real animal, Django-free and in memory: the simulated driver
(:class:`acquisition.drivers.simulated.SimulatedXrayMicroscope`, with its true axis
offset and detector tilt unknown to the file's nominal geometry) exposes darks, flats
and projections of the phantom's attenuation; :func:`recon.pipeline.reconstruct_scan`
finds the centre and reconstructs by FDK; the HA rods of the phantom's calibration
insert give the linear μ → mgHA/cm³ calibration, fitted on the reconstruction as a lab
fits it on its own phantom.

Protocol (:data:`PROTOCOL`, :data:`DRIVER_CONFIG`): a 144 × 288 detector of 11 µm
pixels, binned ×2 (72 × 144 frames of 22 µm) at magnification 2.2, so 10 µm voxels at
the axis — the phantom's own voxel, well below the trabecular thickness (Tb.Th ≈
35–45 µm); 180 projections over 360°; 60 kV, 100 µA, 25 ms per frame (≈ 32 000
photons per binned pixel in the open beam). The reconstruction (72 × 144 × 144) is
cropped to the phantom's 64 × 128 × 128 grid, voxel centres coinciding.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from scipy import ndimage

from acquisition.drivers.base import AcquisitionSettings
from acquisition.drivers.simulated import SimulatedXrayMicroscope
from acquisition.formats.scan import ScanData
from acquisition.phantom import BonePhantom, CalibrationRod
from recon.pipeline import Calibration, ReconstructionParameters, reconstruct_scan

__all__ = [
    "DRIVER_CONFIG",
    "PHANTOM_SHAPE",
    "PROTOCOL",
    "VOXEL_UM",
    "fit_calibration",
    "inscribed_box",
    "inset_region",
    "reconstruct_calibrated",
    "simulate_scan",
]

VOXEL_UM = 10.0
"""Phantom and reconstruction voxel (µm)."""

PHANTOM_SHAPE = (64, 128, 128)
"""Phantom shape (voxels): 128² in-plane, the smallest the phantom's sites recommend at
10 µm; 64 slices (0.64 mm of metaphysis) keep the simulated projections affordable."""

_MAGNIFICATION = 2.2
DRIVER_CONFIG = {
    "detector_shape": [144, 288],
    "pixel_um": 11.0,
    "sdd_um": 250_000.0,
    "sod_um": 250_000.0 / _MAGNIFICATION,
    # axis_offset_px and detector_tilt_deg keep the driver's defaults (2.5 px, 0.2°).
}
"""The simulated instrument: 22 µm binned pixels / 2.2 = 10 µm at the axis."""

PROTOCOL = {
    "kv": 60.0,
    "ua": 100.0,
    "exposure_s": 0.025,
    "frame_rate_hz": 40.0,
    "n_projections": 180,
    "angular_range_deg": 360.0,
    "binning": 2,
    "n_flats": 10,
    "n_darks": 10,
}
"""Acquisition settings of every scan (see the module docstring)."""

RECONSTRUCTION = ReconstructionParameters(
    algorithm="fdk", filter="hann", backend="cpu", voxel_size_um=VOXEL_UM
)
"""FDK on the CPU with the pipeline's default apodisation; the centre is found."""


def simulate_scan(phantom: BonePhantom, seed: int) -> ScanData:
    """Expose one scan of ``phantom`` on the simulated instrument.

    Parameters
    ----------
    phantom : BonePhantom
        The animal's phantom at the scan's time point (voxel :data:`VOXEL_UM`).
    seed : int
        Noise seed of the scan (different per time point, as on a real instrument).

    Returns
    -------
    ScanData
        In memory: uint16 projections ``[180, 72, 144]``, flats, darks, angles and
        the *nominal* geometry (axis assumed centred).
    """
    if phantom.voxel_um != VOXEL_UM:
        raise ValueError(f"phantom.voxel_um must be {VOXEL_UM}, got {phantom.voxel_um}")
    driver = SimulatedXrayMicroscope(DRIVER_CONFIG)
    driver.load_sample(phantom.mu_per_cm, phantom.voxel_um)
    settings = AcquisitionSettings(**PROTOCOL, anatomical_site=phantom.site, seed=seed)
    driver.prepare(settings)
    darks = np.stack([f.image for f in driver.acquire_darks()])
    flats = np.stack([f.image for f in driver.acquire_flats()])
    frames = list(driver.acquire_projections())
    return ScanData(
        path=Path(f"simulated-{phantom.site}-{phantom.seed}-day{phantom.day:g}"),
        format="nxtomo",
        projections=np.stack([f.image for f in frames]),
        flats=flats,
        darks=darks,
        angles_deg=np.array([f.angle_deg for f in frames], dtype=np.float64),
        geometry=driver.geometry(),
    )


def centre_crop(volume: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """The central ``shape`` of ``volume`` (same voxel centres: the offsets are even)."""
    offsets = [(n - m) // 2 for n, m in zip(volume.shape, shape, strict=True)]
    if any(o < 0 or (n - m) % 2 for o, n, m in zip(offsets, volume.shape, shape, strict=True)):
        raise ValueError(f"cannot centre-crop {volume.shape} to {shape}")
    return volume[tuple(slice(o, o + m) for o, m in zip(offsets, shape, strict=True))]


def fit_calibration(
    mu_per_cm: np.ndarray, rods: tuple[CalibrationRod, ...], voxel_um: float
) -> Calibration:
    """Least-squares line through the mean attenuation of each HA rod.

    Parameters
    ----------
    mu_per_cm : (nz, ny, nx) ndarray
        Reconstructed attenuation (1/cm) on the phantom's grid.
    rods : tuple of CalibrationRod
        The insert's rods (centres and radii in µm, densities in mgHA/cm³).
    voxel_um : float
        Voxel size (µm).

    Returns
    -------
    Calibration
        ``density = slope · μ + intercept``; only each rod's core (60 % of its radius,
        away from the blurred edge) and the middle half of the slices are used.
    """
    nz, ny, nx = mu_per_cm.shape
    y = (np.arange(ny) - (ny - 1) / 2.0) * voxel_um
    x = (np.arange(nx) - (nx - 1) / 2.0) * voxel_um
    middle = mu_per_cm[nz // 4 : nz - nz // 4]
    means, densities = [], []
    for rod in rods:
        core = (x[None, :] - rod.x_um) ** 2 + (y[:, None] - rod.y_um) ** 2 <= (
            0.6 * rod.radius_um
        ) ** 2
        if not core.any():
            raise ValueError(f"rod at ({rod.x_um}, {rod.y_um}) µm lies outside the volume")
        means.append(float(middle[:, core].mean()))
        densities.append(rod.density_mgha_cm3)
    slope, intercept = np.polyfit(means, densities, 1)
    return Calibration(slope=float(slope), intercept=float(intercept))


def reconstruct_calibrated(
    phantom: BonePhantom, seed: int, scratch: Path
) -> tuple[np.ndarray, Calibration, float]:
    """Scan, reconstruct and calibrate ``phantom``: the grey volume a lab would analyse.

    Parameters
    ----------
    phantom : BonePhantom
    seed : int
        Noise seed of the scan.
    scratch : pathlib.Path
        Folder for the volume file and the pipeline's scratch file.

    Returns
    -------
    density : (nz, ny, nx) ndarray of float32
        mgHA/cm³ on the phantom's grid (the reconstruction's central part).
    calibration : Calibration
        The fitted HA calibration.
    axis_offset_px : float
        The rotation-axis offset the pipeline found (binned pixels).
    """
    scan = simulate_scan(phantom, seed)
    out = Path(scratch) / f"{scan.path.name}.h5"
    result = reconstruct_scan(scan, out, RECONSTRUCTION, scratch_dir=scratch)
    with h5py.File(out, "r") as f:
        mu = f["volume/0"][...].astype(np.float32, copy=False)
    out.unlink()
    mu = centre_crop(mu, phantom.shape)
    calibration = fit_calibration(mu, phantom.calibration_rods, phantom.voxel_um)
    return calibration.apply(mu), calibration, result.axis_offset_px


def inscribed_box(voi: np.ndarray) -> tuple[slice, slice, slice]:
    """The largest centred square prism (all slices) inside a trabecular VOI.

    Parameters
    ----------
    voi : (nz, ny, nx) ndarray of bool
        The phantom's trabecular volume of interest (marrow compartment).

    Returns
    -------
    tuple of slice
        ``[z, y, x]`` slices of a box holding trabecular bone and marrow only: a
        user-defined region as a lab draws one inside the medulla.
    """
    inner = np.asarray(voi, dtype=bool).all(axis=0)
    ny, nx = inner.shape
    cy, cx = ny // 2, nx // 2
    half = 0
    while (
        half + 1 <= min(cy, cx)
        and inner[cy - half - 1 : cy + half + 1, cx - half - 1 : cx + half + 1].all()
    ):
        half += 1
    if half < 4:
        raise ValueError("voi holds no centred square of at least 8 × 8 voxels in every slice")
    return slice(None), slice(cy - half, cy + half), slice(cx - half, cx + half)


def inset_region(voi: np.ndarray, inset_vox: int = 3) -> np.ndarray:
    """A trabecular VOI drawn ``inset_vox`` voxels inside its endocortical outline.

    Labs contour the trabecular VOI a few voxels off the endocortical surface so that
    the cortex's partial volume stays out of it (Bouxsein et al., JBMR 2010;25:1468).
    On these scans (blur σ ≈ 0.9 voxel) the cortex's blurred edge, above the bone
    threshold, adds ≈ 13 % to the day-0 trabecular bone volume of the full VOI.

    Parameters
    ----------
    voi : (nz, ny, nx) ndarray of bool
        The phantom's trabecular VOI (marrow compartment).
    inset_vox : int
        In-plane inset (voxels); every slice is kept.

    Returns
    -------
    (nz, ny, nx) ndarray of bool
        The inset VOI.
    """
    return ndimage.binary_erosion(
        np.asarray(voi, dtype=bool), structure=np.ones((1, 3, 3), bool), iterations=inset_vox
    )

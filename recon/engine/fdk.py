"""Filtered backprojection: FBP for parallel beam, FDK for circular cone beam.

FDK (L. A. Feldkamp, L. C. Davis, J. W. Kress, "Practical cone-beam algorithm",
J. Opt. Soc. Am. A 1(6):612–619, 1984) in the form of Kak & Slaney
(*Principles of Computerized Tomographic Imaging*, 1988, §3.6): projections are
rescaled to a virtual detector through the axis, weighted by the cosine of the
ray's angle to the central ray ``sod/√(sod² + p² + ζ²)``, ramp filtered along
rows, and backprojected with the distance weight ``U⁻² = (sod/(sod + y'))²``.
Parallel-beam FBP is the same pipeline with unit weights.  Quadrature and
redundancy weights (full scan ½, Parker short scan, Wang half fan) come from
:mod:`.weights`.  Projections are line integrals (−log of the transmission);
the result is the linear attenuation coefficient in 1/cm.
"""

from __future__ import annotations

import numpy as np

from .backends import get_backend
from .filters import apply_ramp_filter
from .geometry import ConeBeamGeometry, ParallelBeamGeometry, VolumeGeometry, default_volume
from .weights import (
    angular_weights,
    half_fan_weights,
    is_full_scan,
    needs_half_fan,
    parker_weights,
)

__all__ = ["detector_rows_for", "fbp", "fbp2d", "fdk", "weighted_filtered_projections"]

Geometry = ParallelBeamGeometry | ConeBeamGeometry
_UM_TO_CM = 1e-4


def _check_projections(projections, geometry: Geometry) -> None:
    shape = tuple(projections.shape)
    if shape != geometry.projection_shape:
        raise ValueError(
            f"projections: shape {shape} does not match the geometry "
            f"(n_angles, nrows, ncols) = {geometry.projection_shape}"
        )


def detector_rows_for(geometry: Geometry, volume: VolumeGeometry) -> tuple[int, int]:
    """Detector rows ``start:stop`` that a volume (slab) projects onto, with margin.

    Parameters
    ----------
    geometry : ParallelBeamGeometry or ConeBeamGeometry
    volume : VolumeGeometry

    Returns
    -------
    tuple of int
        ``(start, stop)`` clipped to the detector.
    """
    z = volume.z_um()
    zlo, zhi = float(z[0]) - volume.voxel_um, float(z[-1]) + volume.voxel_um
    ny, nx = volume.shape[1:]
    oz, oy, ox = volume.origin_um
    radius = np.hypot(abs(oy) + ny * volume.voxel_um / 2, abs(ox) + nx * volume.voxel_um / 2)
    if isinstance(geometry, ConeBeamGeometry):
        mags = [geometry.sdd_um / (geometry.sod_um + s * radius) for s in (-1.0, 1.0)]
        mags = [m for m in mags if m > 0] or [geometry.magnification]
    else:
        mags = [1.0]
    vs = [zz * m for zz in (zlo, zhi) for m in mags]
    tilt_margin = abs(np.sin(np.radians(geometry.detector_tilt_deg))) * (
        radius * max(mags) + abs(geometry.offset_u_um)
    )
    v_lo = min(vs) - tilt_margin - geometry.offset_v_um
    v_hi = max(vs) + tilt_margin - geometry.offset_v_um
    centre = (geometry.nrows - 1) / 2
    start = int(np.floor(v_lo / geometry.pixel_um + centre)) - 2
    stop = int(np.ceil(v_hi / geometry.pixel_um + centre)) + 3
    start = min(max(start, 0), geometry.nrows - 1)
    stop = max(min(stop, geometry.nrows), start + 1)
    return start, stop


def weighted_filtered_projections(
    projections: np.ndarray,
    geometry: Geometry,
    filter: str = "ram-lak",
    short_scan: bool | None = None,
    half_fan: bool | None = None,
) -> np.ndarray:
    """Apply cosine, quadrature and redundancy weights, then the ramp filter.

    Parameters
    ----------
    projections : array_like, shape (n_angles, nrows, ncols)
        Line integrals.
    geometry : ParallelBeamGeometry or ConeBeamGeometry
    filter : str
        Apodisation window (see :func:`recon.engine.filters.ramp_filter`).
    short_scan : bool or None
        Use Parker weights; None decides from the angles (less than a full turn).
    half_fan : bool or None
        Use offset-detector weights (full scans only); None decides from the
        detector offset (:func:`recon.engine.weights.needs_half_fan`).

    Returns
    -------
    ndarray, shape (n_angles, nrows, ncols), float32
    """
    p = np.asarray(projections, dtype=np.float32)
    full = is_full_scan(geometry)
    if short_scan is None:
        short_scan = not full
    if half_fan is None:
        half_fan = full and needs_half_fan(geometry)
    if half_fan and short_scan:
        raise ValueError("half_fan: offset-detector weights need a full 360° scan")
    weights = angular_weights(np.asarray(geometry.angles_deg))[:, None]
    if short_scan:
        weights = weights * parker_weights(geometry)
    else:
        weights = weights * np.full((1, geometry.ncols), 0.5)
    if half_fan:
        weights = weights * half_fan_weights(geometry)[None, :]
    p = p * weights[:, None, :].astype(np.float32)
    if isinstance(geometry, ConeBeamGeometry):
        u = geometry.u_um()[None, :]
        v = geometry.v_um()[:, None]
        sdd = geometry.sdd_um
        p *= (sdd / np.sqrt(sdd**2 + u**2 + v**2)).astype(np.float32)[None]
        spacing_cm = geometry.pixel_um / geometry.magnification * _UM_TO_CM
    else:
        spacing_cm = geometry.pixel_um * _UM_TO_CM
    return apply_ramp_filter(p, spacing_cm, filter)


def _reconstruct(
    projections,
    geometry: Geometry,
    volume: VolumeGeometry | None,
    filter: str,
    backend,
    short_scan: bool | None,
    half_fan: bool | None,
) -> np.ndarray:
    _check_projections(projections, geometry)
    if volume is None:
        volume = default_volume(geometry)
    start, stop = detector_rows_for(geometry, volume)
    rows = np.asarray(projections[:, start:stop, :], dtype=np.float32)
    sub = geometry.crop_rows(start, stop)
    filtered = weighted_filtered_projections(rows, sub, filter, short_scan, half_fan)
    return get_backend(backend).backproject_fdk(filtered, sub.kernel_geometry(), volume)


def fdk(
    projections,
    geometry: ConeBeamGeometry,
    volume: VolumeGeometry | None = None,
    *,
    filter: str = "ram-lak",
    backend: str = "auto",
    short_scan: bool | None = None,
    half_fan: bool | None = None,
) -> np.ndarray:
    """Feldkamp–Davis–Kress reconstruction of a circular cone-beam scan.

    Parameters
    ----------
    projections : array_like, shape (n_angles, nrows, ncols)
        Line integrals ``−log(I/I0)``; an ``h5py.Dataset`` works too (only the
        detector rows the volume needs are read).
    geometry : ConeBeamGeometry
    volume : VolumeGeometry, optional
        Grid to reconstruct (a slab or ROI is fine); default
        :func:`recon.engine.geometry.default_volume`.
    filter : {"ram-lak", "shepp-logan", "cosine", "hamming", "hann"}
    backend : {"auto", "cpu", "gpu"}
    short_scan, half_fan : bool or None
        See :func:`weighted_filtered_projections`.

    Returns
    -------
    ndarray, shape volume.shape, float32
        Linear attenuation coefficient, 1/cm.
    """
    if not isinstance(geometry, ConeBeamGeometry):
        raise ValueError("geometry: fdk needs a ConeBeamGeometry (use fbp for parallel beam)")
    return _reconstruct(projections, geometry, volume, filter, backend, short_scan, half_fan)


def fbp(
    projections,
    geometry: ParallelBeamGeometry,
    volume: VolumeGeometry | None = None,
    *,
    filter: str = "ram-lak",
    backend: str = "auto",
    short_scan: bool | None = None,
) -> np.ndarray:
    """Filtered backprojection of a parallel-beam scan (Kak & Slaney 1988, §3.3).

    Parameters
    ----------
    projections : array_like, shape (n_angles, nrows, ncols)
        Line integrals.
    geometry : ParallelBeamGeometry
    volume : VolumeGeometry, optional
    filter, backend, short_scan
        As in :func:`fdk`.

    Returns
    -------
    ndarray, shape volume.shape, float32, 1/cm
    """
    if not isinstance(geometry, ParallelBeamGeometry):
        raise ValueError("geometry: fbp needs a ParallelBeamGeometry (use fdk for cone beam)")
    return _reconstruct(projections, geometry, volume, filter, backend, short_scan, False)


def fbp2d(
    sinogram: np.ndarray,
    angles_deg: np.ndarray,
    pixel_um: float = 1.0,
    *,
    axis_offset_px: float = 0.0,
    filter: str = "ram-lak",
    backend: str = "auto",
) -> np.ndarray:
    """Parallel-beam FBP of one sinogram onto an ``ncols × ncols`` slice.

    Parameters
    ----------
    sinogram : ndarray, shape (n_angles, ncols)
        Line integrals.
    angles_deg : array_like, shape (n_angles,)
    pixel_um : float
        Detector pixel (= voxel) size, µm.
    axis_offset_px : float
        Rotation-axis column minus ``(ncols - 1) / 2``.

    Returns
    -------
    ndarray, shape (ncols, ncols), float32, indexed ``[y, x]``, 1/cm
    """
    sino = np.asarray(sinogram)
    if sino.ndim != 2:
        raise ValueError(f"sinogram: expected 2-D (n_angles, ncols), got shape {sino.shape}")
    geometry = ParallelBeamGeometry((1, sino.shape[1]), pixel_um, angles_deg)
    geometry = geometry.with_axis_offset(axis_offset_px)
    volume = VolumeGeometry((1, sino.shape[1], sino.shape[1]), pixel_um)
    return fbp(sino[:, None, :], geometry, volume, filter=filter, backend=backend)[0]

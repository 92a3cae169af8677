"""Filtered backprojection: FBP for parallel beam, FDK for circular cone beam.

FDK (L. A. Feldkamp, L. C. Davis, J. W. Kress, "Practical cone-beam algorithm",
J. Opt. Soc. Am. A 1(6):612–619, 1984) in the form of Kak & Slaney
(*Principles of Computerized Tomographic Imaging*, 1988, §3.6): projections are
rescaled to a virtual detector through the axis, weighted by the cosine of the
ray's angle to the central ray ``sod/√(sod² + p² + ζ²)``, ramp filtered along
rows, and backprojected with the distance weight ``U⁻² = (sod/(sod + y'))²``.
Parallel-beam FBP is the same pipeline with unit weights.  Quadrature and
redundancy weights (full scan ½, Parker short scan, Wang half fan) come from
:mod:`.weights`.  A backend whose ``column_upsampling_for(kernel_geometry)`` is ``L`` (the
CPU's 2 for parallel beam) gets each filtered row band-limited-interpolated onto ``L`` samples per column,
which its linear interpolation then blurs far less
(:func:`recon.engine.filters.apply_ramp_filter`).  Projections are line integrals
(−log of the transmission); the result is the linear attenuation coefficient in 1/cm.
"""

from __future__ import annotations

import numpy as np

from .backends import get_backend
from .filters import apply_ramp_filter, filter_length, ramp_filter
from .geometry import (
    ConeBeamGeometry,
    ParallelBeamGeometry,
    VolumeGeometry,
    default_volume,
    detector_rows_for,
)
from .memory import (
    DEFAULT_ANGLE_BATCH,
    InsufficientMemoryError,
    available_memory_bytes,
    estimate_memory,
)
from .weights import (
    angular_weights,
    half_fan_padding,
    half_fan_weights,
    is_full_scan,
    needs_half_fan,
    parker_weights,
)

__all__ = [
    "detector_rows_for",
    "fbp",
    "fbp2d",
    "fdk",
    "projection_weights",
    "weighted_filtered_projections",
]

Geometry = ParallelBeamGeometry | ConeBeamGeometry
_UM_TO_CM = 1e-4


def _check_projections(projections, geometry: Geometry) -> None:
    shape = tuple(np.shape(projections))
    if shape != geometry.projection_shape:
        raise ValueError(
            f"projections: shape {shape} does not match the geometry "
            f"(n_angles, nrows, ncols) = {geometry.projection_shape}"
        )


def _redundancy_choice(
    geometry: Geometry, short_scan: bool | None, half_fan: bool | None
) -> tuple[bool, bool]:
    full = is_full_scan(geometry)
    if short_scan is None:
        short_scan = not full
    if half_fan is None:
        half_fan = full and needs_half_fan(geometry)
    if half_fan and short_scan:
        raise ValueError("half_fan: offset-detector weights need a full 360° scan")
    return bool(short_scan), bool(half_fan)


def _uses_half_fan(geometry: Geometry, short_scan: bool | None, half_fan: bool | None) -> bool:
    return _redundancy_choice(geometry, short_scan, half_fan)[1]


def projection_weights(
    geometry: Geometry, short_scan: bool | None = None, half_fan: bool | None = None
) -> np.ndarray:
    """Quadrature times redundancy weight of every (angle, column), shape (n_angles, ncols).

    Parameters
    ----------
    geometry : ParallelBeamGeometry or ConeBeamGeometry
    short_scan : bool or None
        Use Parker weights; None decides from the angles (less than a full turn).
    half_fan : bool or None
        Use offset-detector weights (full scans only); None decides from the
        detector offset (:func:`recon.engine.weights.needs_half_fan`).

    Returns
    -------
    ndarray, float32
        Radians (the angular step, times ½ for a full turn, times Parker/Wang weights).
    """
    short_scan, half_fan = _redundancy_choice(geometry, short_scan, half_fan)
    weights = angular_weights(np.asarray(geometry.angles_deg))[:, None]
    if short_scan:
        weights = weights * parker_weights(geometry)
    else:
        weights = weights * np.full((1, geometry.ncols), 0.5)
    if half_fan:
        weights = weights * half_fan_weights(geometry)[None, :]
    return weights.astype(np.float32)


def _filter_batch(
    rows: np.ndarray,
    geometry: Geometry,
    weights: np.ndarray,
    window: str,
    backend=None,
    upsampling: int = 1,
):
    """Weight (redundancy, cone cosine) and ramp-filter a batch of detector rows.

    A backend with a ``weight_and_filter`` function (the GPU) does it on its device
    and returns a device array; otherwise numpy/scipy do it here, returning
    ``upsampling`` samples per column (shape ``(..., upsampling · ncols)``).
    """
    cos_weight = None
    spacing_cm = geometry.pixel_um * _UM_TO_CM
    if isinstance(geometry, ConeBeamGeometry):
        u = geometry.u_um()[None, :]
        v = geometry.v_um()[:, None]
        sdd = geometry.sdd_um
        cos_weight = (sdd / np.sqrt(sdd**2 + u**2 + v**2)).astype(np.float32)
        spacing_cm = geometry.pixel_um / geometry.magnification * _UM_TO_CM
    if backend is not None and hasattr(backend, "weight_and_filter"):
        n_pad = filter_length(geometry.ncols)
        response = ramp_filter(geometry.ncols, spacing_cm, window, upsampling)
        return backend.weight_and_filter(rows, weights, cos_weight, response, n_pad, upsampling)
    p = rows * weights[:, None, :]
    if cos_weight is not None:
        p *= cos_weight[None]
    return apply_ramp_filter(p, spacing_cm, window, upsampling)


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
    short_scan, half_fan : bool or None
        See :func:`projection_weights`.

    Returns
    -------
    ndarray, shape (n_angles, nrows, ncols), float32
    """
    p = np.asarray(projections, dtype=np.float32)
    _check_projections(p, geometry)
    return _filter_batch(p, geometry, projection_weights(geometry, short_scan, half_fan), filter)


def _read_rows(projections, a0: int, a1: int, start: int, stop: int) -> np.ndarray:
    rows = np.asarray(projections[a0:a1, start:stop, :], dtype=np.float32)
    if not np.all(np.isfinite(rows)):
        bad = np.argwhere(~np.isfinite(rows))[0]
        raise ValueError(
            f"projections: non-finite value (NaN or inf) at angle {a0 + bad[0]}, "
            f"row {start + bad[1]}, column {bad[2]}"
        )
    return rows


def _reconstruct(
    projections,
    geometry: Geometry,
    volume: VolumeGeometry | None,
    filter: str,
    backend,
    short_scan: bool | None,
    half_fan: bool | None,
    angle_batch: int | None,
    memory_limit_bytes: int | None,
) -> np.ndarray:
    _check_projections(projections, geometry)
    if volume is None:
        volume = default_volume(geometry)
    be = get_backend(backend)
    if angle_batch is None:
        angle_batch = min(geometry.n_angles, DEFAULT_ANGLE_BATCH)
    angle_batch = int(angle_batch)
    estimate = estimate_memory(geometry, volume, angle_batch=angle_batch, assemble=False)
    limit = available_memory_bytes() if memory_limit_bytes is None else int(memory_limit_bytes)
    if estimate.total_bytes > limit:
        raise InsufficientMemoryError(
            estimate.total_bytes,
            limit,
            f"reconstructing a {volume.shape} volume in one piece",
            "use recon.engine.slabs.reconstruct_in_slabs (z-slabs) or a smaller angle_batch",
        )
    start, stop = detector_rows_for(geometry, volume)
    sub = geometry.crop_rows(start, stop)
    weights = projection_weights(sub, short_scan, half_fan)
    pad = half_fan_padding(sub) if _uses_half_fan(sub, short_scan, half_fan) else (0, 0)
    if pad != (0, 0):
        weights = np.pad(weights, ((0, 0), pad))
        sub = sub.pad_columns(*pad)
    kg = sub.kernel_geometry()
    upsampling = be.column_upsampling_for(kg)
    acc = None
    for a0 in range(0, geometry.n_angles, angle_batch):
        a1 = min(a0 + angle_batch, geometry.n_angles)
        rows = _read_rows(projections, a0, a1, start, stop)
        if pad != (0, 0):
            rows = np.pad(rows, ((0, 0), (0, 0), pad))
        filtered = _filter_batch(rows, sub, weights[a0:a1], filter, be, upsampling)
        del rows
        batch_kg = kg._replace(cos=kg.cos[a0:a1], sin=kg.sin[a0:a1])
        acc = be.backproject_fdk(filtered, batch_kg, volume, acc, column_upsampling=upsampling)
        del filtered
    return be.finish_volume(acc)


def fdk(
    projections,
    geometry: ConeBeamGeometry,
    volume: VolumeGeometry | None = None,
    *,
    filter: str = "ram-lak",
    backend: str = "auto",
    short_scan: bool | None = None,
    half_fan: bool | None = None,
    angle_batch: int | None = None,
    memory_limit_bytes: int | None = None,
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
        See :func:`projection_weights`.
    angle_batch : int, optional
        Projections read, filtered and backprojected together (default 64).
    memory_limit_bytes : int, optional
        Peak memory allowed (default: what the system has available).

    Returns
    -------
    ndarray, shape volume.shape, float32
        Linear attenuation coefficient, 1/cm.

    Raises
    ------
    ValueError
        Projections whose shape does not match the geometry, or NaN/inf values.
    recon.engine.memory.InsufficientMemoryError
        When the estimated peak exceeds ``memory_limit_bytes``.
    """
    if not isinstance(geometry, ConeBeamGeometry):
        raise ValueError("geometry: fdk needs a ConeBeamGeometry (use fbp for parallel beam)")
    return _reconstruct(
        projections,
        geometry,
        volume,
        filter,
        backend,
        short_scan,
        half_fan,
        angle_batch,
        memory_limit_bytes,
    )


def fbp(
    projections,
    geometry: ParallelBeamGeometry,
    volume: VolumeGeometry | None = None,
    *,
    filter: str = "ram-lak",
    backend: str = "auto",
    short_scan: bool | None = None,
    half_fan: bool | None = None,
    angle_batch: int | None = None,
    memory_limit_bytes: int | None = None,
) -> np.ndarray:
    """Filtered backprojection of a parallel-beam scan (Kak & Slaney 1988, §3.3).

    Parameters
    ----------
    projections : array_like, shape (n_angles, nrows, ncols)
        Line integrals.
    geometry : ParallelBeamGeometry
    volume : VolumeGeometry, optional
    filter, backend, short_scan, half_fan, angle_batch, memory_limit_bytes
        As in :func:`fdk` (an offset detector in a 360° scan — "half acquisition" —
        gets the offset-detector weights).

    Returns
    -------
    ndarray, shape volume.shape, float32, 1/cm
    """
    if not isinstance(geometry, ParallelBeamGeometry):
        raise ValueError("geometry: fbp needs a ParallelBeamGeometry (use fdk for cone beam)")
    return _reconstruct(
        projections,
        geometry,
        volume,
        filter,
        backend,
        short_scan,
        half_fan,
        angle_batch,
        memory_limit_bytes,
    )


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

"""Finding the rotation centre (and detector tilt) from the data.

Axis offset — complementary-ray matching.  In a fan (the central plane of a
circular cone-beam scan) every line is measured twice: the ray at angle ``θ``
and fan angle ``γ`` is the ray at ``θ + π − 2γ`` and ``−γ`` (parallel beam:
``γ = 0``, the opposed projection mirrored).  For a trial axis offset the
central-plane sinogram is compared with its complementary resampling; the mean
squared difference is smallest at the true offset.  A scan over the search
range on half-pixel steps is refined with a bounded scalar minimisation
(Brent), so the estimate is sub-pixel.  The method is the fan-beam form of
the 0°/180° opposed-projection method (e.g. Yang et al., "A fast method for
rotation centre determination", J. Synchrotron Rad., 2017) and is exact for any
object in the central plane, unlike mirrored cross-correlation in cone beam.

Tilt — opposed projections: the projection at ``θ + 180°`` is the one at ``θ``
reflected across the projected axis, a line tilted by the detector tilt; the
tilt that minimises the mismatch after that reflection is found the same way
(both frames sampled on one axis-aligned grid, so that interpolation does not
favour the untilted grid).  Exact for parallel beam, a good approximation for
small cone angles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import scipy.ndimage as ndi
import scipy.optimize

from .geometry import ConeBeamGeometry, ParallelBeamGeometry

__all__ = ["CentreEstimate", "find_axis_offset", "find_centre", "find_tilt"]

Geometry = ParallelBeamGeometry | ConeBeamGeometry


@dataclass(frozen=True)
class CentreEstimate:
    """Result of :func:`find_centre`.

    Attributes
    ----------
    axis_offset_px : float
        Rotation-axis column minus ``(ncols - 1) / 2``.
    detector_tilt_deg : float
        In-plane tilt, counter-clockwise seen from the source.
    """

    axis_offset_px: float
    detector_tilt_deg: float

    def apply(self, geometry: Geometry) -> Geometry:
        """``geometry`` with this axis offset and tilt (what to reconstruct with)."""
        return replace(
            geometry.with_axis_offset(self.axis_offset_px),
            detector_tilt_deg=self.detector_tilt_deg,
        )

    def to_dict(self) -> dict[str, float]:
        """The values used, as plain floats, for storage with the reconstruction."""
        return {
            "axis_offset_px": float(self.axis_offset_px),
            "detector_tilt_deg": float(self.detector_tilt_deg),
        }


def _check(projections, geometry: Geometry):
    """The projections as given when they can be sliced (an ``h5py.Dataset`` stays on
    disk: only the rows and frames the search needs are read), else as an array."""
    p = projections if hasattr(projections, "shape") else np.asarray(projections, np.float32)
    if tuple(p.shape) != geometry.projection_shape:
        raise ValueError(
            f"projections: shape {tuple(p.shape)} does not match the geometry "
            f"{geometry.projection_shape}"
        )
    if geometry.n_angles < 4:
        raise ValueError("projections: at least four angles are needed to find the centre")
    return p


def _finite(values: np.ndarray) -> np.ndarray:
    """``values`` (read from the projections), refusing NaN or inf."""
    if not np.all(np.isfinite(values)):
        raise ValueError("projections: contain NaN or inf values")
    return values


def _mismatch(sino: np.ndarray, geometry: Geometry, offset_px: float) -> float:
    """Mean squared difference between a sinogram and its complementary resampling."""
    n_angles, ncols = sino.shape
    theta = np.radians(np.asarray(geometry.angles_deg))
    step = (theta[-1] - theta[0]) / (n_angles - 1)
    pixel = geometry.pixel_um
    centre = (ncols - 1) / 2 + offset_px
    u = (np.arange(ncols) - centre) * pixel
    if isinstance(geometry, ConeBeamGeometry):
        gamma = np.arctan(u / geometry.sdd_um)
    else:
        gamma = np.zeros_like(u)
    theta_c = theta[:, None] + np.pi - 2 * gamma[None, :]
    col_c = np.broadcast_to(-u / pixel + centre, theta_c.shape)
    # The complementary angle, brought into the scanned turn (the same line is
    # measured again 2π later), as a fractional projection index.
    a_idx = np.mod((theta_c - theta[0]) * np.sign(step), 2 * np.pi) / abs(step)
    full = abs(abs(step) * n_angles - 2 * np.pi) < 0.5 * abs(step)
    if full:
        a_idx = np.mod(a_idx, n_angles)
        valid = (col_c >= 0) & (col_c <= ncols - 1)
        mode = "grid-wrap"
    else:
        valid = (col_c >= 0) & (col_c <= ncols - 1) & (a_idx <= n_angles - 1)
        mode = "nearest"
    if valid.sum() < ncols // 2:
        return np.inf
    resampled = ndi.map_coordinates(sino, [a_idx[valid], col_c[valid]], order=1, mode=mode)
    diff = sino[valid] - resampled
    return float(np.mean(diff * diff))


def _row_sinogram(p: np.ndarray, row: float) -> np.ndarray:
    """Sinogram ``[angle, col]`` at a fractional detector row (linear interpolation)."""
    row = float(np.clip(row, 0, p.shape[1] - 1))
    r0 = int(math.floor(row))
    r1 = min(r0 + 1, p.shape[1] - 1)
    t = row - r0
    rows = _finite(np.asarray(p[:, r0 : r1 + 1, :], dtype=np.float64))
    return (1 - t) * rows[:, 0, :] + t * rows[:, -1, :]


def _best_offset(sino: np.ndarray, geometry: Geometry, lo: float, hi: float) -> float:
    """Offset in ``[lo, hi]`` minimising :func:`_mismatch`: half-pixel scan, then Brent."""
    trial = np.arange(lo, hi + 0.25, 0.5)
    costs = np.array([_mismatch(sino, geometry, float(o)) for o in trial])
    if not np.isfinite(costs).any():
        raise ValueError(
            "projections: too little overlap between complementary rays to find the centre "
            "(the angles must reach 180° plus the fan angle, both ends included)"
        )
    best = int(np.argmin(costs))
    a = trial[max(best - 1, 0)]
    b = trial[min(best + 1, trial.size - 1)]
    res = scipy.optimize.minimize_scalar(
        lambda o: _mismatch(sino, geometry, float(o)),
        bounds=(a, b),
        method="bounded",
        options={"xatol": 1e-3},
    )
    return float(res.x)


def find_axis_offset(
    projections,
    geometry: Geometry,
    *,
    search_px: float | None = None,
) -> float:
    """Axis offset (pixels) by complementary-ray matching in the central plane.

    Parameters
    ----------
    projections : array_like, shape (n_angles, nrows, ncols)
        Line integrals.
    geometry : ParallelBeamGeometry or ConeBeamGeometry
        Its own ``offset_u_um`` is ignored; angles must span at least 180° plus
        the fan angle.
    search_px : float, optional
        Half-width of the search range; default a quarter of the detector width.

    Returns
    -------
    float
        ``axis_offset_px``: use ``geometry.with_axis_offset(value)`` to reconstruct.
    """
    p = _check(projections, geometry)
    if search_px is None:
        search_px = geometry.ncols / 4
    sino = _row_sinogram(p, _principal_row(geometry))
    return _best_offset(sino, geometry, -float(search_px), float(search_px))


def _principal_row(geometry: Geometry) -> float:
    """Detector row (fractional) of the central ray, where ``v = 0``."""
    return (geometry.nrows - 1) / 2 - geometry.offset_v_um / geometry.pixel_um


def _opposed_pairs(angles_deg: np.ndarray, max_pairs: int) -> list[tuple[int, int]]:
    """Up to ``max_pairs`` index pairs of projections 180° apart (within a quarter step)."""
    a = np.asarray(angles_deg, dtype=np.float64)
    step = abs(float(np.median(np.diff(a)))) if a.size > 1 else 1.0
    pairs = []
    for i, theta in enumerate(a):
        d = np.abs(((a - theta - 180.0) + 180.0) % 360.0 - 180.0)
        j = int(np.argmin(d))
        if d[j] < 0.25 * step and j > i:
            pairs.append((i, j))
    if len(pairs) > max_pairs:
        pick = np.linspace(0, len(pairs) - 1, max_pairs).round().astype(int)
        pairs = [pairs[k] for k in pick]
    return pairs


def _reflection_mismatch(
    p0: np.ndarray, p180: np.ndarray, axis_col: float, axis_row: float, tilt_rad: float
) -> float:
    """Mismatch of two opposed projections across a projected axis tilted by ``tilt_rad``.

    Both frames are sampled on one grid aligned with the axis line (points
    ``axis + α·d ± β·d⊥``), so both are interpolated alike at every trial tilt
    and interpolation does not pull the estimate towards the pixel grid.
    """
    nr, nc = p0.shape
    half = max(nr, nc)
    al, be = np.mgrid[-half : half + 1, 0 : half + 1].astype(np.float64)
    du, dv = math.sin(tilt_rad), math.cos(tilt_rad)
    c1 = axis_col + al * du + be * dv
    r1 = axis_row + al * dv - be * du
    c2 = axis_col + al * du - be * dv
    r2 = axis_row + al * dv + be * du
    valid = (
        (r1 >= 0)
        & (r1 <= nr - 1)
        & (c1 >= 0)
        & (c1 <= nc - 1)
        & (r2 >= 0)
        & (r2 <= nr - 1)
        & (c2 >= 0)
        & (c2 <= nc - 1)
    )
    if valid.sum() < nc:
        return np.inf
    at1 = [r1[valid], c1[valid]]
    at2 = [r2[valid], c2[valid]]
    d1 = ndi.map_coordinates(p0, at1, order=1) - ndi.map_coordinates(p180, at2, order=1)
    d2 = ndi.map_coordinates(p0, at2, order=1) - ndi.map_coordinates(p180, at1, order=1)
    return float(np.mean(d1 * d1) + np.mean(d2 * d2))


def find_tilt(
    projections,
    geometry: Geometry,
    axis_offset_px: float = 0.0,
    *,
    max_tilt_deg: float = 5.0,
    max_pairs: int = 9,
) -> float:
    """Detector tilt (degrees) from projections 180° apart.

    The projection at ``θ + 180°`` is the one at ``θ`` reflected across the
    projected rotation axis — a line through the axis column, tilted by the
    detector tilt (exact in parallel beam, close for small cone angles).  The
    tilt minimising the mismatch after reflection, over ``max_pairs`` opposed
    pairs, is found by a scan in 0.25° steps refined by Brent's method.

    Parameters
    ----------
    projections : array_like, shape (n_angles, nrows, ncols)
        Line integrals.
    geometry : ParallelBeamGeometry or ConeBeamGeometry
        Angles must contain pairs 180° apart.
    axis_offset_px : float
        The axis offset on the principal row (e.g. from :func:`find_axis_offset`).
    max_tilt_deg : float
        Search range, degrees.
    max_pairs : int
        Opposed pairs compared.

    Returns
    -------
    float
        ``detector_tilt_deg``.

    Raises
    ------
    ValueError
        When no two projections lie 180° apart.
    """
    p = _check(projections, geometry)
    pairs = _opposed_pairs(np.asarray(geometry.angles_deg), max_pairs)
    if not pairs:
        raise ValueError("angles_deg: no pair of projections 180° apart to find the tilt")
    axis_col = (geometry.ncols - 1) / 2 + axis_offset_px
    axis_row = _principal_row(geometry)
    frames = {k: _finite(np.asarray(p[k], dtype=np.float64)) for pair in pairs for k in pair}

    def cost(tilt_deg: float) -> float:
        t = math.radians(tilt_deg)
        return sum(
            _reflection_mismatch(frames[i], frames[j], axis_col, axis_row, t) for i, j in pairs
        )

    trial = np.arange(-max_tilt_deg, max_tilt_deg + 1e-9, 0.25)
    best = int(np.argmin([cost(float(t)) for t in trial]))
    lo, hi = trial[max(best - 1, 0)], trial[min(best + 1, trial.size - 1)]
    res = scipy.optimize.minimize_scalar(
        cost, bounds=(lo, hi), method="bounded", options={"xatol": 1e-3}
    )
    return float(res.x)


def find_centre(
    projections,
    geometry: Geometry,
    *,
    tilt: bool = False,
    search_px: float | None = None,
) -> CentreEstimate:
    """Axis offset and, optionally, detector tilt of a scan.

    Parameters
    ----------
    projections : array_like, shape (n_angles, nrows, ncols)
        Line integrals.
    geometry : ParallelBeamGeometry or ConeBeamGeometry
    tilt : bool
        Also estimate the detector tilt (:func:`find_tilt`).
    search_px : float, optional
        See :func:`find_axis_offset`.

    Returns
    -------
    CentreEstimate
    """
    offset = find_axis_offset(projections, geometry, search_px=search_px)
    tilt_deg = find_tilt(projections, geometry, offset) if tilt else 0.0
    return CentreEstimate(offset, tilt_deg)

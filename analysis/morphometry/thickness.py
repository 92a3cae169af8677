"""Model-independent local thickness (Hildebrand & Rüegsegger 1997): Tb.Th, Tb.Sp.

At a point of a structure, the local thickness is the diameter of the largest ball
that contains the point and fits inside the structure; Tb.Th is its mean over the
bone, Tb.Sp the same over the marrow.

Exact digital definition (``subvoxel=False``)
---------------------------------------------
With ``d(c)`` the Euclidean distance from the centre of structure voxel ``c`` to the
nearest background voxel centre, the ball of ``c`` is the open ball
``{p : |p - c| < d(c)}`` (it holds no background voxel centre) and

``τ(p) = max { 2 d(c) : c in the structure, |p - c| < d(c) }``

for every structure voxel ``p`` — the definition of Hildebrand & Rüegsegger on the
voxel grid, as BoneJ uses it, with ``d`` the exact real distance (no integer-radius
quantisation: a ball of radius √20 stays √20). It is computed exactly, fast:

1. the squared distance transform ``d²`` (:mod:`analysis.morphometry.edt`, exact
   integers);
2. the *distance ridge*: a ball is dropped only when it lies inside the ball of a
   26-neighbour ``c'``. Every point of the ball of ``c`` is a voxel centre at squared
   distance at most ``d²(c) - 1`` from ``c``, so the ball is contained as soon as
   ``√(d²(c) - 1) + |c - c'| < d(c')``; dropping it changes no ``τ``;
3. each ridge ball paints ``2 d(c)`` onto the voxels it holds (largest value kept),
   in parallel over z-planes so that no two threads write the same voxel.

Plates of even thickness ``k`` get ``τ = k``; odd ``k`` get ``k + 1``, because the
distance is measured to the nearest background voxel *centre* (the grid cannot
place a ball centre on a plate's mid-plane between voxel centres).

Sub-voxel option (``subvoxel=True``)
------------------------------------
The surface of a digital structure lies half a voxel beyond its last voxel centre,
and a medial surface between voxel centres is found from the distance function's
unit slope: along an axis with neighbour distances ``d₋``, ``d₊`` the tent through
them peaks at ``(d₋ + d₊) / 2 + 1/2``. The candidate centres are the digital ridge
above together with the voxels whose ``d`` is no smaller than at their six face
neighbours (a sub-voxel ball may reach beyond the digital ball that holds it); the
ball radius is the lowest tent peak of the three axes, kept within
``[d - 1/2, d - 1/2 + √3/2]``, and the ball is centred at the sub-voxel apex: along
each axis where the voxel is a maximum of ``d``, the tent's apex lies
``(d₊ - d₋) / 2`` from the voxel centre. Every voxel starts from its own ball's
diameter ``2 d - 1`` and keeps the largest ridge diameter ``2 r`` painted on it
(closed balls). Plates and layers of any integer thickness ``k`` get ``k`` exactly,
rims included.

Centring matters where the ridge is a point rather than a surface: the largest
ball of a marrow cavity sits between voxel centres, and a ball of the full
sub-voxel radius left on a neighbouring voxel reaches up to √3/2 voxel beyond the
cavity, into the crevices beside the contacts, and paints them with the cavity's
diameter. On the cubic rod lattice of the tests (rod diameter 8, period 24
voxels; continuous Tb.Sp 24.35) voxel-centred balls gave Tb.Sp 25.10 aligned
(+3 %) and 24.0–24.2 rotated; apex-centred balls give 24.55 aligned and 24.0–24.1
turned by arbitrary angles (within 2.5 % of each other), and Tb.Th moves by under
1.5 %, where the digital definition moves Tb.Th by +8 % and Tb.Sp by −3 %.

References
----------
.. [1] Hildebrand T, Rüegsegger P. A new method for the model-independent assessment
   of thickness in three-dimensional images. J Microsc 1997;185:67-75.
.. [2] Dougherty R, Kunzelmann KH. Computing local thickness of 3D structures with
   ImageJ. Microsc Microanal 2007;13(S02):1678-1679.
.. [3] Bouxsein ML et al. Guidelines for assessment of bone microstructure in rodents
   using micro-computed tomography. J Bone Miner Res 2010;25:1468-1486.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from .edt import INFINITE, squared_edt

__all__ = ["ThicknessStats", "local_thickness", "thickness_stats"]

_MAX_RIDGE_OFFSET = 0.5 * np.sqrt(3.0)
# The lines along which the tent peaks are taken: the three grid axes. (The 13
# lines of the 26-neighbourhood follow oblique marrow ridges ~1 % better but round
# off the rims of thin layers, where the axes are exact.)
_LINES = np.array([(1, 0, 0), (0, 1, 0), (0, 0, 1)], dtype=np.int64)
_LENGTHS = np.sqrt((_LINES**2).sum(axis=1)).astype(np.float64)


@dataclass(frozen=True)
class ThicknessStats:
    """Summary of a local thickness map over a phase.

    Attributes
    ----------
    mean_um, sd_um, max_um : float
        Volume-weighted mean, standard deviation (population) and maximum of the
        local thickness (µm); NaN when the phase is empty.
    n_voxels : int
        Voxels the figures summarise.
    """

    mean_um: float
    sd_um: float
    max_um: float
    n_voxels: int


def local_thickness(
    mask: np.ndarray,
    *,
    subvoxel: bool = False,
) -> np.ndarray:
    """Local thickness of each voxel of a structure, in voxels.

    Parameters
    ----------
    mask : (nz, ny, nx) ndarray of bool
        The structure (bone for Tb.Th, marrow for Tb.Sp). The array border is a cut:
        the structure and its background are taken to continue beyond it. A volume
        with no background at all is treated as framed by background.
    subvoxel : bool
        False: the exact digital definition (see the module notes). True: sub-voxel
        ridge radii, exact on plates of any thickness and much less sensitive to
        the structure's orientation.

    Returns
    -------
    (nz, ny, nx) ndarray of float32
        Local thickness (voxels) inside the structure, 0 outside.

    Raises
    ------
    ValueError
        If ``mask`` is not a 3-D array.

    Examples
    --------
    >>> import numpy as np
    >>> plate = np.zeros((12, 6, 6), bool)
    >>> plate[3:8] = True
    >>> float(local_thickness(plate, subvoxel=True)[5, 2, 2])
    5.0
    >>> plate[3:9] = True
    >>> float(local_thickness(plate)[5, 2, 2])
    6.0
    """
    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise ValueError(f"mask must be a 3-D array [z, y, x], got shape {mask.shape}")
    mask = np.ascontiguousarray(mask, dtype=np.bool_)
    out = np.zeros(mask.shape, dtype=np.float32)
    if not mask.any():
        return out
    if mask.all():
        framed = np.pad(mask, 1)
        return local_thickness(framed, subvoxel=subvoxel)[1:-1, 1:-1, 1:-1]
    d2 = squared_edt(mask)
    if subvoxel:
        centres, offsets, thresholds, values = _subvoxel_ridge(d2)
        _fill_own_ball(d2, out)
    else:
        centres, thresholds, values = _exact_ridge(d2)
        offsets = np.zeros(centres.shape, dtype=np.float32)
    del d2
    if centres.shape[0]:
        order = np.argsort(centres[:, 0], kind="stable")
        centres, offsets = centres[order], offsets[order]
        thresholds, values = thresholds[order], values[order]
        starts = np.searchsorted(centres[:, 0], np.arange(mask.shape[0] + 1)).astype(np.int64)
        # A sub-voxel centre lies at most half a voxel from its voxel's plane.
        reach = int(np.ceil(np.sqrt(thresholds.max()) + np.abs(offsets[:, 0]).max()))
        _paint(mask, centres, offsets, thresholds, values, starts, reach, out)
    return out


def thickness_stats(
    thickness: np.ndarray, voxel_um: float, region: np.ndarray | None = None
) -> ThicknessStats:
    """Mean, SD and maximum of a local thickness map over its phase.

    Parameters
    ----------
    thickness : (nz, ny, nx) ndarray of float
        A map from :func:`local_thickness` (voxels; 0 outside the phase).
    voxel_um : float
        Isotropic voxel size (µm).
    region : (nz, ny, nx) ndarray of bool, optional
        Only voxels in the region count (the map itself should be computed on the
        whole volume, so that balls are not cut by the region's outline).

    Returns
    -------
    ThicknessStats
        The figures in µm.
    """
    thickness = np.asarray(thickness)
    selected = None
    if region is not None:
        selected = np.asarray(region, dtype=bool)
        if selected.shape != thickness.shape:
            raise ValueError(f"region must have the map's shape {thickness.shape}")
    n, total, squares, largest = _moments(thickness, selected)
    if n == 0:
        nan = float("nan")
        return ThicknessStats(nan, nan, nan, 0)
    mean = total / n
    variance = max(squares / n - mean * mean, 0.0)
    return ThicknessStats(
        mean_um=mean * voxel_um,
        sd_um=float(np.sqrt(variance)) * voxel_um,
        max_um=float(largest) * voxel_um,
        n_voxels=int(n),
    )


def _exact_ridge(d2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ridge centres (n, 3), squared-radius thresholds and diameters (voxels)."""
    centres = _compact(_exact_ridge_mask(d2))
    squared = d2[centres[:, 0], centres[:, 1], centres[:, 2]].astype(np.float64)
    # Open ball on integer squared distances: |p - c|² < d² ⇔ |p - c|² <= d² - 1/2.
    return centres, squared - 0.5, (2.0 * np.sqrt(squared)).astype(np.float32)


def _subvoxel_ridge(
    d2: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ridge voxels (n, 3), sub-voxel centre offsets (n, 3), squared radii, diameters."""
    keep = _exact_ridge_mask(d2)
    _add_axis_maxima(d2, keep)
    centres = _compact(keep)
    del keep
    r, offsets = _tent_balls(d2, centres)
    return centres, offsets, r * r + 1e-6, (2.0 * r).astype(np.float32)


@numba.njit(cache=True, nogil=True)
def _compact(keep):  # pragma: no cover - compiled
    """``np.argwhere(keep)`` as int32, without the int64 intermediate."""
    n = 0
    for v in keep.ravel():
        n += v
    out = np.empty((n, 3), np.int32)
    nz, ny, nx = keep.shape
    i = 0
    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                if keep[z, y, x]:
                    out[i, 0] = z
                    out[i, 1] = y
                    out[i, 2] = x
                    i += 1
    return out


@numba.njit(cache=True, nogil=True)
def _moments_all(thickness):  # pragma: no cover - compiled
    n = 0
    total = 0.0
    squares = 0.0
    largest = 0.0
    for v in thickness.ravel():
        if v > 0:
            n += 1
            total += v
            squares += v * v
            if v > largest:
                largest = v
    return n, total, squares, largest


@numba.njit(cache=True, nogil=True)
def _moments_in(thickness, region):  # pragma: no cover - compiled
    n = 0
    total = 0.0
    squares = 0.0
    largest = 0.0
    flat = thickness.ravel()
    inside = region.ravel()
    for i in range(flat.size):
        v = flat[i]
        if v > 0 and inside[i]:
            n += 1
            total += v
            squares += v * v
            if v > largest:
                largest = v
    return n, total, squares, largest


def _moments(thickness: np.ndarray, region: np.ndarray | None) -> tuple[int, float, float, float]:
    """Count, sum, sum of squares and maximum of the positive values (in the region)."""
    values = np.ascontiguousarray(thickness, dtype=np.float32)
    if region is None:
        return _moments_all(values)
    return _moments_in(values, np.ascontiguousarray(region))


@numba.njit(cache=True, nogil=True, parallel=True)
def _exact_ridge_mask(d2):  # pragma: no cover - compiled
    nz, ny, nx = d2.shape
    keep = np.zeros(d2.shape, np.bool_)
    for z in numba.prange(nz):
        for y in range(ny):
            for x in range(nx):
                own = d2[z, y, x]
                if own == 0 or own >= INFINITE:
                    continue
                inner = np.sqrt(own - 1.0)
                contained = False
                for dz in range(-1, 2):
                    zz = z + dz
                    if zz < 0 or zz >= nz:
                        continue
                    for dy in range(-1, 2):
                        yy = y + dy
                        if yy < 0 or yy >= ny:
                            continue
                        for dx in range(-1, 2):
                            xx = x + dx
                            if xx < 0 or xx >= nx:
                                continue
                            other = d2[zz, yy, xx]
                            if other <= own:
                                continue
                            step = np.sqrt(dz * dz + dy * dy + dx * dx)
                            if inner + step < np.sqrt(other) - 1e-9:
                                contained = True
                                break
                        if contained:
                            break
                    if contained:
                        break
                keep[z, y, x] = not contained
    return keep


@numba.njit(cache=True, nogil=True, parallel=True)
def _add_axis_maxima(d2, keep):  # pragma: no cover - compiled
    """Also keep the voxels whose distance is no smaller than at their 6 face neighbours.

    A sub-voxel ball may reach beyond the digital ball that contains it, so the
    digital ridge alone would drop some of them (e.g. along a layer's rim).
    """
    nz, ny, nx = d2.shape
    for z in numba.prange(nz):
        for y in range(ny):
            for x in range(nx):
                own = d2[z, y, x]
                if own == 0 or keep[z, y, x]:
                    continue
                if z > 0 and d2[z - 1, y, x] > own:
                    continue
                if z < nz - 1 and d2[z + 1, y, x] > own:
                    continue
                if y > 0 and d2[z, y - 1, x] > own:
                    continue
                if y < ny - 1 and d2[z, y + 1, x] > own:
                    continue
                if x > 0 and d2[z, y, x - 1] > own:
                    continue
                if x < nx - 1 and d2[z, y, x + 1] > own:
                    continue
                keep[z, y, x] = True


@numba.njit(cache=True, nogil=True, parallel=True)
def _tent_balls(d2, centres):  # pragma: no cover - compiled
    """Sub-voxel ball at each ridge voxel: radius and centre offset (voxels).

    The radius is the lowest tent peak over the axes. The centre is moved, axis by
    axis, to the tent's apex ``(d₊ - d₋) / 2`` where the voxel is a maximum along
    that axis (elsewhere the axis holds no apex near the voxel and the offset is 0).
    """
    nz, ny, nx = d2.shape
    n = centres.shape[0]
    radii = np.empty(n, np.float64)
    offsets = np.zeros((n, 3), np.float32)
    for i in numba.prange(n):
        z, y, x = centres[i, 0], centres[i, 1], centres[i, 2]
        own = np.sqrt(np.float64(d2[z, y, x]))
        best = 1e30
        for j in range(_LINES.shape[0]):
            dz, dy, dx = _LINES[j, 0], _LINES[j, 1], _LINES[j, 2]
            # Beyond the array the distance continues with its value at the centre.
            za, ya, xa = z - dz, y - dy, x - dx
            zb, yb, xb = z + dz, y + dy, x + dx
            lo = own
            if 0 <= za < nz and 0 <= ya < ny and 0 <= xa < nx:
                lo = np.sqrt(np.float64(d2[za, ya, xa]))
            hi = own
            if 0 <= zb < nz and 0 <= yb < ny and 0 <= xb < nx:
                hi = np.sqrt(np.float64(d2[zb, yb, xb]))
            peak = 0.5 * (lo + hi) + 0.5 * _LENGTHS[j]
            if peak < best:
                best = peak
            if lo <= own and hi <= own:
                offsets[i, j] = 0.5 * (hi - lo)
        low = own - 0.5
        radii[i] = min(max(best, low), low + _MAX_RIDGE_OFFSET)
    return radii, offsets


@numba.njit(cache=True, nogil=True, parallel=True)
def _fill_own_ball(d2, out):  # pragma: no cover - compiled
    nz, ny, nx = d2.shape
    for z in numba.prange(nz):
        for y in range(ny):
            for x in range(nx):
                v = d2[z, y, x]
                if v > 0:
                    out[z, y, x] = 2.0 * np.sqrt(v) - 1.0


@numba.njit(cache=True, nogil=True, parallel=True)
def _paint(mask, centres, offsets, thresholds, values, starts, reach, out):  # pragma: no cover
    """Paint each ball's value on the structure voxels it holds, plane by plane.

    Ball ``n`` is centred at ``centres[n] + offsets[n]`` and holds the voxels with
    ``|p - centre|² <= thresholds[n]``; ``starts`` indexes the balls (sorted by
    their voxel's z) by plane. Each thread owns whole output planes, so no write
    races.
    """
    nz, ny, nx = mask.shape
    for z in numba.prange(nz):
        for cz in range(max(z - reach, 0), min(z + reach + 1, nz)):
            for n in range(starts[cz], starts[cz + 1]):
                fz = z - (cz + np.float64(offsets[n, 0]))
                rest = thresholds[n] - fz * fz
                if rest < 0.0:
                    continue
                value = values[n]
                cy = centres[n, 1] + np.float64(offsets[n, 1])
                cx = centres[n, 2] + np.float64(offsets[n, 2])
                ry = np.sqrt(rest)
                for y in range(max(int(np.ceil(cy - ry)), 0), min(int(np.floor(cy + ry)) + 1, ny)):
                    rest_x = rest - (y - cy) * (y - cy)
                    if rest_x < 0.0:
                        continue
                    rx = np.sqrt(rest_x)
                    lo_x = max(int(np.ceil(cx - rx)), 0)
                    for x in range(lo_x, min(int(np.floor(cx + rx)) + 1, nx)):
                        if mask[z, y, x] and out[z, y, x] < value:
                            out[z, y, x] = value

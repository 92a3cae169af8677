"""Local thickness of formation packages and resorption cavities.

MAR and MRR of time-lapsed micro-CT are the mean thickness of the formation
packages and of the resorption cavities divided by the interval (Schulte et al.
2011). The thickness is the model-independent local thickness of Hildebrand &
Rüegsegger (1997): at each voxel, the diameter of the largest ball that contains
the voxel and fits inside the structure; the package thickness is its mean over the
package's voxels.

Method
------
1. Euclidean distance transform ``d`` of the structure (distance from each voxel
   centre to the nearest background voxel centre, in voxels). The array border is
   a cut through the structure, not a boundary of it: the structure is taken to
   continue beyond it, as the surface counts of :mod:`analysis.remodelling.surfaces`
   do.
2. The structure's boundary lies half a voxel beyond the last voxel centre, so the
   distance from a voxel centre to the boundary is ``d - 1/2``. The medial surface of
   a plate with an even number of voxels lies *between* voxel centres, where no
   voxel samples it; its height is recovered with the distance function's unit slope:
   along an axis with neighbours ``d₋``, ``d₊`` the peak of the tent through them is
   ``r = (d₋ + d₊) / 2 + 1/2``. The ball radius at a ridge voxel (``d`` no smaller
   than at its six neighbours) is the smallest such ``r`` over the three axes (the
   axis closest to the structure's normal), kept within ``[d - 1/2, d]``.
3. Each ridge ball paints its diameter ``2 r`` on the structure's voxels whose
   centres it contains; every voxel keeps the largest diameter painted on it (at
   least its own ball's, ``2 d - 1``).

A plate ``k`` voxels thick gets thickness ``k`` exactly, for odd and even ``k``; on
oblique or curved packages the distance transform's sampling limits the accuracy to
about a third of a voxel.

References
----------
.. [1] Hildebrand T, Rüegsegger P. A new method for the model-independent assessment
   of thickness in three-dimensional images. J Microsc 1997;185:67-75.
.. [2] Schulte FA, Lambers FM, Kuhn G, Müller R. In vivo micro-computed tomography
   allows direct three-dimensional quantification of both bone formation and bone
   resorption parameters using time-lapsed imaging. Bone 2011;48:433-442.
"""

from __future__ import annotations

import numba
import numpy as np
from scipy import ndimage

__all__ = ["local_thickness", "mean_thickness"]

# Largest distance from a voxel centre to the medial point it samples: half the
# voxel diagonal, sqrt(3)/2 (the tent peak lies at most that far above the sample).
_MAX_RIDGE_OFFSET = 0.5 * np.sqrt(3.0)


def local_thickness(mask: np.ndarray) -> np.ndarray:
    """Local thickness (Hildebrand & Rüegsegger) of each voxel of a structure.

    Parameters
    ----------
    mask : (nz, ny, nx) ndarray of bool
        The structure (e.g. the formed voxels of a remodelling label volume).

    Returns
    -------
    (nz, ny, nx) ndarray of float32
        Thickness in voxels inside the structure, 0 outside.

    Raises
    ------
    ValueError
        If ``mask`` is not a 3-D array.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 3:
        raise ValueError(f"mask must be a 3-D array [z, y, x], got shape {mask.shape}")
    out = np.zeros(mask.shape, dtype=np.float32)
    if not mask.any():
        return out
    # Work on the bounding box grown by one voxel within the array. Beyond the
    # array the structure is taken to continue (the border is a cut, not a
    # surface), unless it fills the whole box, which then gets a background frame.
    box = tuple(
        slice(max(s.start - 1, 0), min(s.stop + 1, n))
        for s, n in zip(ndimage.find_objects(mask.astype(np.uint8))[0], mask.shape, strict=True)
    )
    sub = mask[box]
    framed = sub.all()
    if framed:
        sub = np.pad(sub, 1)
    dist = ndimage.distance_transform_edt(sub).astype(np.float32)
    centres, radii = _ridge_balls(sub, dist)
    thickness = np.where(sub, 2.0 * dist - 1.0, 0.0).astype(np.float32)
    _paint(sub, centres, radii, thickness)
    out[box] = thickness[1:-1, 1:-1, 1:-1] if framed else thickness
    return out
    # Work on the bounding box, padded with one background voxel on every side.
    box = ndimage.find_objects(mask.astype(np.uint8))[0]
    sub = np.pad(mask[box], 1)
    dist = ndimage.distance_transform_edt(sub).astype(np.float32)
    centres, radii = _ridge_balls(sub, dist)
    thickness = np.where(sub, 2.0 * dist - 1.0, 0.0).astype(np.float32)
    _paint(sub, centres, radii, thickness)
    out[box] = thickness[1:-1, 1:-1, 1:-1]
    return out


def mean_thickness(mask: np.ndarray) -> float:
    """Volume-weighted mean local thickness of a structure (voxels); NaN if empty.

    Parameters
    ----------
    mask : (nz, ny, nx) ndarray of bool
        The structure.

    Returns
    -------
    float
        Mean of :func:`local_thickness` over the structure's voxels.
    """
    mask = np.asarray(mask, dtype=bool)
    thickness = local_thickness(mask)
    if not mask.any():
        return float("nan")
    return float(thickness[mask].mean(dtype=np.float64))


def _ridge_balls(mask: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres (n, 3) and sub-voxel radii (n,) of the balls on the distance ridge.

    Beyond the array, the distance is continued by its border values.
    """
    ridge = mask.copy()
    radius = np.full(dist.shape, np.inf, dtype=np.float32)
    padded = np.pad(dist, 1, mode="edge")
    inner = (slice(1, -1),) * 3
    for axis in range(3):
        lo = list(inner)
        hi = list(inner)
        lo[axis] = slice(0, -2)
        hi[axis] = slice(2, None)
        before = padded[tuple(lo)]
        after = padded[tuple(hi)]
        ridge &= (dist >= before) & (dist >= after)
        np.minimum(radius, 0.5 * (before + after) + 0.5, out=radius)
    np.clip(radius, dist - 0.5, dist - 0.5 + _MAX_RIDGE_OFFSET, out=radius)
    centres = np.argwhere(ridge).astype(np.int64)
    return centres, radius[ridge]


@numba.njit(cache=False, nogil=True)
def _paint(mask, centres, radii, thickness):  # pragma: no cover - compiled
    nz, ny, nx = mask.shape
    for n in range(centres.shape[0]):
        cz, cy, cx = centres[n, 0], centres[n, 1], centres[n, 2]
        r = radii[n]
        diameter = 2.0 * r
        r2 = r * r + 1e-6
        reach = int(np.floor(r))
        for z in range(max(cz - reach, 0), min(cz + reach + 1, nz)):
            dz2 = (z - cz) * (z - cz)
            for y in range(max(cy - reach, 0), min(cy + reach + 1, ny)):
                dzy2 = dz2 + (y - cy) * (y - cy)
                if dzy2 > r2:
                    continue
                for x in range(max(cx - reach, 0), min(cx + reach + 1, nx)):
                    if dzy2 + (x - cx) * (x - cx) <= r2 and mask[z, y, x]:
                        if thickness[z, y, x] < diameter:
                            thickness[z, y, x] = diameter

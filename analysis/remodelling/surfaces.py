"""Bone surface extent by counting voxel faces.

The surface between two phases of a label volume is measured as the number of
voxel faces (6-neighbour pairs) with one voxel in each phase. Face counts
overestimate the true area of oblique surfaces (by up to √3 on a (1, 1, 1) plane),
which is why they are used here only for ratios of surfaces sharing the same
orientations (MS/BS, ES/BS), where that bias cancels to first order.
"""

from __future__ import annotations

import numpy as np

__all__ = ["count_faces"]


def count_faces(a: np.ndarray, b: np.ndarray, region: np.ndarray | None = None) -> int:
    """Number of voxel faces shared by a voxel of ``a`` and a voxel of ``b``.

    Parameters
    ----------
    a, b : (nz, ny, nx) ndarray of bool
        Two phases (they may overlap; a face needs one side in each).
    region : (nz, ny, nx) ndarray of bool, optional
        Faces count only where both voxels lie in the region. Faces on the array
        border are never counted: they are cut surfaces, not bone surfaces.

    Returns
    -------
    int
        The number of shared faces (each face has the area ``voxel_um**2``).
    """
    total = 0
    for axis in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis] = slice(None, -1)
        hi[axis] = slice(1, None)
        lo_t, hi_t = tuple(lo), tuple(hi)
        pairs = (a[lo_t] & b[hi_t]) | (b[lo_t] & a[hi_t])
        if region is not None:
            pairs &= region[lo_t] & region[hi_t]
        total += int(np.count_nonzero(pairs))
    return total

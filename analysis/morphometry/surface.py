"""Bone surface (BS) by marching cubes, and its rate of change for SMI.

The surface is the 0.5 iso-surface of the bone indicator (optionally smoothed with a
Gaussian, which takes the voxel staircase off oblique and curved surfaces), meshed
by marching cubes (Lorensen & Cline 1987, scikit-image) in slabs of z-planes so that
only one slab's float copy and mesh are in memory at a time.

The array border is a cut, not a bone surface: the volume is padded by repeating
its border voxels, so the mesh continues straight across the border, and each
triangle in a padding cell counts for the share of that cell inside the volume
(½ per axis on which it lies in the padding). A plate crossing an ``n × n`` volume
thus has exactly ``n²`` voxel faces of surface on each side.

References
----------
.. [1] Lorensen WE, Cline HE. Marching cubes: a high resolution 3D surface
   construction algorithm. Computer Graphics 1987;21:163-169.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage import measure

__all__ = ["surface_area", "surface_area_derivative"]

_SLAB = 48


def surface_area(
    mask: np.ndarray, *, sigma_vox: float = 0.0, region: np.ndarray | None = None
) -> float:
    """Area of the bone surface, in voxel faces (multiply by ``voxel_um²``).

    Parameters
    ----------
    mask : (nz, ny, nx) ndarray of bool
        The bone.
    sigma_vox : float
        Gaussian smoothing of the indicator before meshing (voxels); 0 meshes the
        binary volume as it is.
    region : (nz, ny, nx) ndarray of bool, optional
        Only triangles nearest to a voxel of the region count.

    Returns
    -------
    float
        Surface area in units of the voxel face area.
    """
    areas = _areas(mask, sigma_vox, (0.0,), region)
    return areas[0]


def surface_area_derivative(
    mask: np.ndarray,
    *,
    sigma_vox: float = 0.8,
    step_vox: float = 0.5,
    region: np.ndarray | None = None,
) -> tuple[float, float]:
    """Surface area and its derivative under a normal displacement of the surface.

    The mesh's vertices move by ``±step_vox`` along their (outward) normals;
    ``dBS/dr = (BS(+h) − BS(−h)) / 2h`` (Hildebrand & Rüegsegger 1997, SMI).

    Parameters
    ----------
    mask : (nz, ny, nx) ndarray of bool
        The bone.
    sigma_vox : float
        Gaussian smoothing before meshing (voxels).
    step_vox : float
        Displacement ``h`` (voxels), > 0.
    region : (nz, ny, nx) ndarray of bool, optional
        Only triangles nearest to a voxel of the region count.

    Returns
    -------
    area : float
        BS in voxel faces.
    derivative : float
        dBS/dr in voxel edges (area per unit displacement).
    """
    if not step_vox > 0:
        raise ValueError(f"step_vox must be > 0, got {step_vox!r}")
    area, grown, shrunk = _areas(mask, sigma_vox, (0.0, step_vox, -step_vox), region)
    return area, (grown - shrunk) / (2.0 * step_vox)


def _areas(
    mask: np.ndarray,
    sigma_vox: float,
    offsets: tuple[float, ...],
    region: np.ndarray | None,
) -> list[float]:
    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise ValueError(f"mask must be a 3-D array [z, y, x], got shape {mask.shape}")
    if region is not None:
        region = np.asarray(region, dtype=bool)
        if region.shape != mask.shape:
            raise ValueError(f"region must have the mask's shape {mask.shape}")
    if not sigma_vox >= 0:
        raise ValueError(f"sigma_vox must be >= 0, got {sigma_vox!r}")
    nz = mask.shape[0]
    totals = [0.0] * len(offsets)
    margin = int(np.ceil(4 * sigma_vox)) + 1
    # Cells between padded planes k and k + 1 (k = 0 … nz); slab [a, b) of cells.
    for a in range(0, nz + 1, _SLAB):
        b = min(a + _SLAB, nz + 1)
        lo = max(a - 1 - margin, 0)
        hi = min(b + margin, nz)
        block = np.pad(mask[lo:hi].astype(np.float32), ((0, 0), (1, 1), (1, 1)), mode="edge")
        if sigma_vox > 0:
            block = ndimage.gaussian_filter(block, sigma_vox, mode="nearest", truncate=4.0)
        # Padded planes a … b (inclusive) are volume planes a-1 … b-1, clamped.
        planes = np.clip(np.arange(a - 1, b) - lo, 0, hi - lo - 1)
        field = block[planes]
        del block
        if field.min() >= 0.5 or field.max() < 0.5 or field.shape[0] < 2:
            continue
        verts, faces, normals, _ = measure.marching_cubes(field, 0.5, allow_degenerate=False)
        del field
        verts[:, 0] += a  # cell k of the padded volume spans padded planes k, k + 1
        centroids = verts[faces].mean(axis=1)
        weights = _border_weights(centroids, mask.shape)
        if region is not None:
            nearest = np.rint(centroids - 1.0).astype(np.int64)
            for axis, n in enumerate(mask.shape):
                np.clip(nearest[:, axis], 0, n - 1, out=nearest[:, axis])
            weights *= region[nearest[:, 0], nearest[:, 1], nearest[:, 2]]
        # marching_cubes' normals point towards decreasing values: outward of bone.
        for n, offset in enumerate(offsets):
            moved = verts if offset == 0 else verts + offset * normals
            totals[n] += float(weights @ _triangle_areas(moved, faces))
    return totals


def _border_weights(centroids: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """½ per axis on which a triangle lies in a padding cell (padded coordinates)."""
    weights = np.ones(centroids.shape[0])
    for axis, n in enumerate(shape):
        c = centroids[:, axis]
        weights[(c < 1.0) | (c > n)] *= 0.5
    return weights


def _triangle_areas(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    a = verts[faces[:, 1]] - verts[faces[:, 0]]
    b = verts[faces[:, 2]] - verts[faces[:, 0]]
    return 0.5 * np.linalg.norm(np.cross(a, b), axis=1)

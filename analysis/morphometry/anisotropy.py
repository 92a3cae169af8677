"""Degree of anisotropy (DA) by the mean intercept length (MIL) and the fabric tensor.

For each direction ``ω`` of a fixed set, the volume is traversed by every grid line
along ``ω`` (voxel steps ``ω``, an integer vector), and the bone–marrow intercepts
are counted: ``MIL(ω) = L(ω) / I(ω)``, with ``L`` the total test-line length inside
the volume and ``I`` the number of phase changes between consecutive voxels on the
lines, halved (one intercept per bone entry). The quadric
``1 / MIL(ω)² = ωᵀ M ω`` is fitted by linear least squares (6 unknowns); the fabric
tensor ``H = M^{-1/2}`` has the MIL ellipsoid's semi-axes as eigenvalues
``h₁ ≥ h₂ ≥ h₃`` and ``DA = h₁ / h₃`` (1 for isotropy).

The directions are the 13 distinct lines through a voxel and its 26 neighbours
(3 axes, 6 face diagonals, 4 body diagonals): a fixed, deterministic set with the
cube's symmetry, so that a structure with cubic symmetry gets ``DA = 1`` exactly,
and with steps of at most √3 voxels, so no thin trabecula is stepped over.

References
----------
.. [1] Harrigan TP, Mann RW. Characterization of microstructural anisotropy in
   orthotropic materials using a second rank tensor. J Mater Sci 1984;19:761-767.
.. [2] Odgaard A. Three-dimensional methods for quantification of cancellous bone
   architecture. Bone 1997;20:315-328.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DIRECTIONS", "Fabric", "fabric_tensor"]

DIRECTIONS: np.ndarray = np.array(
    [
        (1, 0, 0), (0, 1, 0), (0, 0, 1),
        (1, 1, 0), (1, -1, 0), (1, 0, 1), (1, 0, -1), (0, 1, 1), (0, 1, -1),
        (1, 1, 1), (1, 1, -1), (1, -1, 1), (1, -1, -1),
    ],
    dtype=np.int64,
)  # fmt: skip
"""The 13 test directions ``(dz, dy, dx)`` in voxel steps."""


@dataclass(frozen=True)
class Fabric:
    """MIL fabric tensor of a structure.

    Attributes
    ----------
    da : float
        Degree of anisotropy ``h₁ / h₃`` (≥ 1).
    eigenvalues : (3,) ndarray
        Fabric tensor eigenvalues ``h₁ ≥ h₂ ≥ h₃`` (MIL semi-axes, voxels).
    eigenvectors : (3, 3) ndarray
        Columns: the matching unit directions, as ``(z, y, x)`` components.
    mil : (13,) ndarray
        MIL along each of :data:`DIRECTIONS` (voxels); inf without intercepts.
    """

    da: float
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    mil: np.ndarray


def fabric_tensor(mask: np.ndarray, region: np.ndarray | None = None) -> Fabric:
    """Mean intercept lengths over :data:`DIRECTIONS` and the fabric tensor.

    Parameters
    ----------
    mask : (nz, ny, nx) ndarray of bool
        The bone.
    region : (nz, ny, nx) ndarray of bool, optional
        Test lines count only between voxel pairs that both lie in the region.

    Returns
    -------
    Fabric

    Raises
    ------
    ValueError
        If the mask is not 3-D, the region's shape differs, or the structure has
        intercepts along fewer than 6 independent directions (the tensor is then
        undetermined).
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 3:
        raise ValueError(f"mask must be a 3-D array [z, y, x], got shape {mask.shape}")
    if region is not None:
        region = np.asarray(region, dtype=bool)
        if region.shape != mask.shape:
            raise ValueError(f"region must have the mask's shape {mask.shape}")
    mil = np.array([_mil(mask, region, step) for step in DIRECTIONS])
    finite = np.isfinite(mil)
    if finite.sum() < 6:
        raise ValueError("mask has bone intercepts along too few directions for a fabric tensor")
    units = DIRECTIONS / np.linalg.norm(DIRECTIONS, axis=1, keepdims=True)
    u = units[finite]
    design = np.column_stack(
        [u[:, 0] ** 2, u[:, 1] ** 2, u[:, 2] ** 2, 2 * u[:, 0] * u[:, 1],
         2 * u[:, 0] * u[:, 2], 2 * u[:, 1] * u[:, 2]]
    )  # fmt: skip
    coef, *_ = np.linalg.lstsq(design, 1.0 / mil[finite] ** 2, rcond=None)
    m = np.array(
        [[coef[0], coef[3], coef[4]], [coef[3], coef[1], coef[5]], [coef[4], coef[5], coef[2]]]
    )
    values, vectors = np.linalg.eigh(m)
    values = np.clip(values, np.finfo(float).tiny, None)
    semi_axes = 1.0 / np.sqrt(values)  # descending as values ascend
    return Fabric(
        da=float(semi_axes[0] / semi_axes[-1]),
        eigenvalues=semi_axes,
        eigenvectors=vectors,
        mil=mil,
    )


def _mil(mask: np.ndarray, region: np.ndarray | None, step: np.ndarray) -> float:
    a, b = _pair_slices(mask.shape, step)
    if region is None:
        pairs = int(np.prod([s.stop - s.start for s in a]))
        changes = int(np.count_nonzero(mask[a] != mask[b]))
    else:
        both = region[a] & region[b]
        pairs = int(np.count_nonzero(both))
        changes = int(np.count_nonzero((mask[a] != mask[b]) & both))
    if changes == 0:
        return float("inf")
    return pairs * float(np.linalg.norm(step)) / (changes / 2.0)


def _pair_slices(shape: tuple[int, ...], step: np.ndarray) -> tuple[tuple, tuple]:
    """Slices selecting voxel ``p`` and ``p + step`` over all pairs inside the array."""
    first, second = [], []
    for n, s in zip(shape, step, strict=True):
        s = int(s)
        if s >= 0:
            first.append(slice(0, n - s))
            second.append(slice(s, n))
        else:
            first.append(slice(-s, n))
            second.append(slice(0, n + s))
    return tuple(first), tuple(second)

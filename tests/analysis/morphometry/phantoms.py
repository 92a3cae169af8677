"""Analytic phantoms for the morphometry tests, sampled at voxel centres.

Coordinates are in voxels about the array centre (``docs/conventions.md``);
``(x, y, z)`` point order, arrays ``[z, y, x]``.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def points(shape: tuple[int, int, int]) -> np.ndarray:
    """Voxel-centre coordinates ``(..., 3)`` as ``(x, y, z)`` about the array centre."""
    nz, ny, nx = shape
    k, j, i = np.meshgrid(
        np.arange(nz) - (nz - 1) / 2,
        np.arange(ny) - (ny - 1) / 2,
        np.arange(nx) - (nx - 1) / 2,
        indexing="ij",
    )
    return np.stack([i, j, k], axis=-1)


def rod_lattice(
    n: int, period: float, diameter: float, angles_deg: tuple[float, float, float] | None = None
) -> np.ndarray:
    """Cubic lattice of rods along the three (rotated) axes; rod axes at the cell corners.

    Unrotated, the rods of an ``n = m * period`` volume lie half-way between voxel
    centres, so the volume is one exact period of the infinite lattice.
    """
    p = points((n, n, n))
    if angles_deg is not None:
        p = p @ Rotation.from_euler("xyz", angles_deg, degrees=True).as_matrix()
    q = (p + period / 2) % period - period / 2
    r2 = (diameter / 2) ** 2
    x2, y2, z2 = q[..., 0] ** 2, q[..., 1] ** 2, q[..., 2] ** 2
    return (x2 + y2 <= r2) | (y2 + z2 <= r2) | (x2 + z2 <= r2)


def rod_cell(period: int, diameter: float) -> np.ndarray:
    """One periodic cell of :func:`rod_lattice` (rods through the cell's centre)."""
    p = points((period, period, period))
    r2 = (diameter / 2) ** 2
    x2, y2, z2 = p[..., 0] ** 2, p[..., 1] ** 2, p[..., 2] ** 2
    return (x2 + y2 <= r2) | (y2 + z2 <= r2) | (x2 + z2 <= r2)


def parallel_plates(n_plates: int, thickness: int, period: int, side: int = 20) -> np.ndarray:
    """Plates normal to z, ``thickness`` voxels every ``period``; the volume is whole periods,
    cut half-way through the marrow gaps."""
    volume = np.zeros((n_plates * period, side, side), dtype=bool)
    gap = period - thickness
    for k in range(n_plates):
        start = k * period + gap // 2
        volume[start : start + thickness] = True
    return volume


def cylinder(shape: tuple[int, int, int], radius: float, direction=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Infinite solid cylinder through the centre along ``direction`` ``(x, y, z)``."""
    p = points(shape)
    u = np.asarray(direction, dtype=float)
    u /= np.linalg.norm(u)
    perpendicular = p - (p @ u)[..., None] * u
    return (perpendicular**2).sum(axis=-1) <= radius**2


def ball(shape: tuple[int, int, int], radius: float) -> np.ndarray:
    """Solid ball at the centre."""
    return (points(shape) ** 2).sum(axis=-1) <= radius**2


def slab(shape: tuple[int, int, int], thickness: float, normal=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Infinite plate through the centre with the given normal ``(x, y, z)``."""
    u = np.asarray(normal, dtype=float)
    u /= np.linalg.norm(u)
    return np.abs(points(shape) @ u) <= thickness / 2


def shell(shape: tuple[int, int, int], outer: float, inner: float) -> np.ndarray:
    """Cylindrical shell along z: ``inner < r <= outer``."""
    p = points(shape)
    r = np.hypot(p[..., 0], p[..., 1])
    return (r <= outer) & (r > inner)

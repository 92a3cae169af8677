"""A synthetic remodelling site for the tests: a plate (a septum across the marrow
cavity of an elliptic cortical shell) that grows on its upper face and is eroded on
its lower face, beside unchanged structures (the shell, a floor segment, spheres)
that registration can hold on to.

Geometry in voxel units about the array centre (``docs/conventions.md``); the
plate's faces lie on voxel faces, and it has no free edge (it meets the shell), so
its formed and resorbed layers are exact slabs.
Grey values: bone 1000 mgHA/cm³, background 0; partial volume from 3×3×3
sub-samples per voxel.
"""

from __future__ import annotations

import numpy as np

from analysis.registration import RigidTransform

SHAPE = (64, 64, 64)
BONE_MGHA = 1000.0
PLATE_Z = (-5.0, 5.0)
SPHERES = (  # centre (x, y, z), radius; all unchanged
    ((14.0, 6.0, -14.0), 4.0),
    ((-9.0, 13.0, 12.0), 3.5),
    ((6.0, -14.0, 17.0), 4.5),
    ((-15.0, -8.0, -10.0), 3.0),
)


def inside(x: np.ndarray, y: np.ndarray, z: np.ndarray, grown: int) -> np.ndarray:
    """Bone at points (voxel units); ``grown`` voxels added on top, removed below."""
    outer = (x / 27.0) ** 2 + (y / 21.0) ** 2 <= 1.0
    inner = (x / 22.0) ** 2 + (y / 16.0) ** 2 < 1.0
    bone = outer & ~inner & (np.abs(z) <= 24.0)  # an elliptic cortical shell
    bone |= (np.abs(z + 24.0) <= 2.0) & outer & (x > 8.0)  # a floor segment
    for (cx, cy, cz), radius in SPHERES:
        bone |= (x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 <= radius**2
    in_cavity = (x / 22.5) ** 2 + (y / 16.5) ** 2 <= 1.0
    bone |= in_cavity & (z >= PLATE_Z[0] + grown) & (z <= PLATE_Z[1] + grown)
    return bone


def centres(voxel_um: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Voxel-centre coordinates ``(x, y, z)`` of the grid, in voxels."""
    nz, ny, nx = SHAPE
    k, j, i = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    return i - (nx - 1) / 2, j - (ny - 1) / 2, k - (nz - 1) / 2


def true_change(grown: int) -> tuple[int, int]:
    """Formed and resorbed voxel counts of the phantom, sampled at voxel centres."""
    x, y, z = centres()
    before = inside(x, y, z, 0)
    after = inside(x, y, z, grown)
    return int((after & ~before).sum()), int((before & ~after).sum())


def render(grown: int, to_baseline: RigidTransform | None = None, voxel_um: float = 1.0):
    """Grey-value volume of the phantom, optionally seen through a rigid motion.

    ``to_baseline`` maps a point of the returned volume's frame to the phantom
    frame (µm); a registration of the result onto an unmoved rendering should
    recover its inverse.
    """
    nz, ny, nx = SHAPE
    sub = (np.arange(3) - 1) / 3.0
    out = np.zeros(SHAPE, dtype=np.float32)
    jj, ii = np.mgrid[:ny, :nx]
    for k in range(nz):
        acc = np.zeros((ny, nx), dtype=np.float32)
        for dz in sub:
            for dy in sub:
                for dx in sub:
                    x = ii + dx - (nx - 1) / 2
                    y = jj + dy - (ny - 1) / 2
                    z = np.full_like(x, k + dz - (nz - 1) / 2)
                    if to_baseline is not None:
                        pts = np.stack([x, y, z], axis=-1) * voxel_um
                        x, y, z = np.moveaxis(to_baseline.apply(pts) / voxel_um, -1, 0)
                    acc += inside(x, y, z, grown)
        out[k] = acc * (BONE_MGHA / 27.0)
    return out

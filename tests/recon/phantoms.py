"""Analytic ellipsoid phantoms for the reconstruction tests.

Projections are exact line integrals through ellipsoids (chord lengths from a
ray–quadric intersection), computed from the rays the geometry reports, so the
tests do not depend on the engine's own projector.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from recon.engine.geometry import ConeBeamGeometry, ParallelBeamGeometry, VolumeGeometry

UM_TO_CM = 1e-4


@dataclass(frozen=True)
class Ellipsoid:
    """An ellipsoid of constant attenuation (1/cm), positions and semi-axes in µm."""

    value: float
    centre_um: tuple[float, float, float]  # (x, y, z)
    semi_axes_um: tuple[float, float, float]  # along its own x, y, z
    phi_deg: float = 0.0  # rotation about z

    def _frame(self) -> np.ndarray:
        p = np.radians(self.phi_deg)
        return np.array([[np.cos(p), -np.sin(p), 0], [np.sin(p), np.cos(p), 0], [0, 0, 1]])

    def chord_um(self, origins: np.ndarray, directions: np.ndarray) -> np.ndarray:
        """Length of each ray (origin, unit direction; (..., 3)) inside the ellipsoid."""
        rot = self._frame()
        axes = np.asarray(self.semi_axes_um, dtype=np.float64)
        o = ((origins - np.asarray(self.centre_um)) @ rot) / axes
        d = (directions @ rot) / axes
        a = np.sum(d * d, axis=-1)
        b = 2 * np.sum(o * d, axis=-1)
        c = np.sum(o * o, axis=-1) - 1
        disc = np.maximum(b * b - 4 * a * c, 0.0)
        return np.sqrt(disc) / a  # |t2 - t1| with |direction| = 1

    def inside(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        rot = self._frame()
        pts = np.stack([x, y, z], axis=-1) - np.asarray(self.centre_um)
        q = (pts @ rot) / np.asarray(self.semi_axes_um)
        return np.sum(q * q, axis=-1) <= 1.0


def shepp_logan_3d(half_width_um: float, scale_per_cm: float = 2.0) -> list[Ellipsoid]:
    """Modified 3-D Shepp–Logan phantom (Toft's contrast, ellipsoids rotated about z)."""
    table = [
        (1.0, 0.69, 0.92, 0.81, 0.0, 0.0, 0.0, 0.0),
        (-0.8, 0.6624, 0.874, 0.78, 0.0, -0.0184, 0.0, 0.0),
        (-0.2, 0.11, 0.31, 0.22, 0.22, 0.0, 0.0, -18.0),
        (-0.2, 0.16, 0.41, 0.28, -0.22, 0.0, 0.0, 18.0),
        (0.1, 0.21, 0.25, 0.41, 0.0, 0.35, -0.15, 0.0),
        (0.1, 0.046, 0.046, 0.05, 0.0, 0.1, 0.25, 0.0),
        (0.1, 0.046, 0.046, 0.05, 0.0, -0.1, 0.25, 0.0),
        (0.1, 0.046, 0.023, 0.05, -0.08, -0.605, 0.0, 0.0),
        (0.1, 0.023, 0.023, 0.02, 0.0, -0.606, 0.0, 0.0),
        (0.1, 0.023, 0.046, 0.02, 0.06, -0.605, 0.0, 0.0),
    ]
    s = half_width_um
    return [
        Ellipsoid(v * scale_per_cm, (x * s, y * s, z * s), (a * s, b * s, c * s), phi)
        for v, a, b, c, x, y, z, phi in table
    ]


def bone_phantom(half_width_um: float, mu_bone: float = 3.0, mu_soft: float = 0.5):
    """Cortical shell (two coaxial elliptic cylinders) with marrow and trabecular rods."""
    s = half_width_um
    parts = [
        Ellipsoid(mu_bone, (0, 0, 0), (0.9 * s, 0.8 * s, 50 * s)),
        Ellipsoid(mu_soft - mu_bone, (0, 0, 0), (0.6 * s, 0.5 * s, 50 * s)),
    ]
    for x, y in [(-0.35, 0.0), (0.3, 0.15), (0.0, -0.3), (0.1, 0.3)]:
        parts.append(Ellipsoid(mu_bone - mu_soft, (x * s, y * s, 0), (0.06 * s, 0.06 * s, 50 * s)))
    return parts


def project(
    parts: list[Ellipsoid],
    geometry: ParallelBeamGeometry | ConeBeamGeometry,
    aperture: int = 1,
) -> np.ndarray:
    """Exact line integrals (dimensionless), shape (n_angles, nrows, ncols), float32.

    ``aperture = 1`` samples each pixel's centre (point sampling: sharp edges
    alias); ``aperture = k`` averages ``k × k`` rays spread evenly over each pixel,
    as a detector that integrates over its pixel area does.
    """
    out = np.zeros(geometry.projection_shape, dtype=np.float64)
    offsets = ((np.arange(aperture) + 0.5) / aperture - 0.5) * geometry.pixel_um
    for du in offsets:
        for dv in offsets:
            shifted = replace(
                geometry,
                offset_u_um=geometry.offset_u_um + du,
                offset_v_um=geometry.offset_v_um + dv,
            )
            for a in range(geometry.n_angles):
                origins, directions = shifted.rays(a)
                for e in parts:
                    out[a] += e.value * e.chord_um(origins, directions) * UM_TO_CM
    return (out / aperture**2).astype(np.float32)


def voxelise(parts: list[Ellipsoid], volume: VolumeGeometry, supersample: int = 2) -> np.ndarray:
    """Mean attenuation of each voxel (sub-sampled), shape volume.shape."""
    out = np.zeros(volume.shape)
    v = volume.voxel_um
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    for dz in offsets:
        for dy in offsets:
            for dx in offsets:
                z, y, x = np.meshgrid(
                    volume.z_um() + dz * v,
                    volume.y_um() + dy * v,
                    volume.x_um() + dx * v,
                    indexing="ij",
                )
                for e in parts:
                    out += e.value * e.inside(x, y, z)
    return out / supersample**3

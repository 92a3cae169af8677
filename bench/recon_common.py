"""Shared set-up of the reconstruction benchmarks: a micro-CT geometry and exact data.

The test object is a uniform sphere (1/cm) centred on the rotation axis, whose
cone-beam line integrals are exact chord lengths and the same at every angle,
so 720 projections of 512² cost one frame; the reconstruction is compared with
the sphere to show that the timed run computed the right thing.
"""

from __future__ import annotations

import resource

import numpy as np

from recon.engine.geometry import ConeBeamGeometry, VolumeGeometry, default_volume

UM_TO_CM = 1e-4


def micro_ct_geometry(n: int, n_angles: int) -> ConeBeamGeometry:
    """An ``n × n`` detector (40 µm binned pixels), SOD 30 mm, SDD 120 mm (M = 4)."""
    return ConeBeamGeometry(
        (n, n),
        40.0 * 512 / n,
        np.linspace(0.0, 360.0, n_angles, endpoint=False),
        sod_um=30_000.0,
        sdd_um=120_000.0,
    )


def sphere_radius_um(volume: VolumeGeometry) -> float:
    """Radius of the test sphere: 35 % of the grid width."""
    return 0.35 * volume.shape[2] * volume.voxel_um


def sphere_projections(geometry: ConeBeamGeometry, mu_per_cm: float = 1.0) -> np.ndarray:
    """Exact line integrals of the centred sphere, shape (n_angles, n, n), float32."""
    radius = sphere_radius_um(default_volume(geometry))
    origins, directions = geometry.rays(0)
    closest = np.cross(origins, directions)  # |S × d| is the ray's distance to the centre
    dist2 = np.sum(closest * closest, axis=-1)
    frame = (2 * np.sqrt(np.maximum(radius**2 - dist2, 0.0)) * UM_TO_CM * mu_per_cm).astype(
        np.float32
    )
    out = np.empty(geometry.projection_shape, dtype=np.float32)
    out[:] = frame[None]
    return out


def sphere_error(rec: np.ndarray, volume: VolumeGeometry, mu_per_cm: float = 1.0) -> float:
    """RMS error (1/cm) over the central 60 % of slices, 3 voxels away from the surface."""
    nz = volume.shape[0]
    sl = slice(int(0.2 * nz), int(0.8 * nz))
    z, y, x = np.meshgrid(volume.z_um()[sl], volume.y_um(), volume.x_um(), indexing="ij")
    r = np.sqrt(x * x + y * y + z * z)
    radius = sphere_radius_um(volume)
    inside = r < radius - 3 * volume.voxel_um
    outside = r > radius + 3 * volume.voxel_um
    truth = np.where(inside, mu_per_cm, 0.0)
    keep = inside | outside
    return float(np.sqrt(np.mean((rec[sl][keep] - truth[keep]) ** 2)))


def peak_rss_mib() -> float:
    """Peak resident set size of this process, MiB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

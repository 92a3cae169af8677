"""Digital mouse-bone phantom: a labelled, mineralised volume for one animal and site.

The volume (``[z, y, x]``, voxel centres as in ``docs/conventions.md``) holds, from the
outside in: air, soft tissue (limb or body wall), an elliptical cortical shell that
flares toward the growth plate, marrow and a trabecular network; beside the animal, a
water-equivalent calibration insert with hydroxyapatite rods of known density
(:data:`~acquisition.phantom.materials.CALIBRATION_DENSITIES_MGHA_CM3`).

Trabecular network
------------------
A Gaussian random field ``G`` (white noise smoothed with σ = ``field_sigma_um`` in x, y
and ``anisotropy ×`` that along z, normalised to unit variance) is thresholded on a band
around its zero level set, ``|G| < t``: the band is a connected sponge of plates and
struts whose spacing follows σ and whose thickness follows ``t``. ``t`` is chosen as the
quantile that gives the site's target BV/TV in the marrow compartment exactly, and bone
not connected to the cortex is removed (no floating fragments). Such level-set
("leveled wave") models are a standard way of making synthetic cancellous bone with
tunable BV/TV and anisotropy.

The anatomy is in µm (:mod:`~acquisition.phantom.sites`); when the field of view is
smaller than the anatomy, the outline (not the trabecular scale) is shrunk to fit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from .materials import (
    CALIBRATION_DENSITIES_MGHA_CM3,
    CORTICAL_DENSITY_MGHA_CM3,
    TRABECULAR_DENSITY_MGHA_CM3,
    Tissue,
    attenuation_per_cm,
)
from .sites import site_anatomy

__all__ = ["BonePhantom", "CalibrationRod", "make_phantom"]


@dataclass(frozen=True)
class CalibrationRod:
    """One rod of the calibration insert: a cylinder along z (µm, mgHA/cm³)."""

    density_mgha_cm3: float
    x_um: float
    y_um: float
    radius_um: float


@dataclass(frozen=True, eq=False)
class BonePhantom:
    """One animal's site at one time point.

    Attributes
    ----------
    site : str
        Anatomical site (one of :data:`acquisition.phantom.SITES`).
    voxel_um : float
        Isotropic voxel size (µm).
    seed : int
        The animal's seed (anatomy and remodelling are deterministic from it).
    day : float
        Days since the baseline scan (0 for a fresh phantom).
    labels : numpy.ndarray
        uint8 [z, y, x], :class:`~acquisition.phantom.materials.Tissue` values.
    density_mgha_cm3 : numpy.ndarray
        float32 [z, y, x] mineral density (0 outside bone and rods).
    trabecular_voi : numpy.ndarray
        bool [z, y, x], the marrow compartment inside the endocortical surface: the
        volume of interest (TV) of trabecular BV/TV.
    calibration_rods : tuple of CalibrationRod
        The calibration insert's rods.
    """

    site: str
    voxel_um: float
    seed: int
    day: float
    labels: np.ndarray
    density_mgha_cm3: np.ndarray
    trabecular_voi: np.ndarray
    calibration_rods: tuple[CalibrationRod, ...]

    @property
    def shape(self) -> tuple[int, int, int]:
        """Volume shape (nz, ny, nx)."""
        return tuple(self.labels.shape)  # type: ignore[return-value]

    @property
    def mu_per_cm(self) -> np.ndarray:
        """float32 [z, y, x] linear attenuation coefficient (1/cm), computed on access."""
        return attenuation_per_cm(self.labels, self.density_mgha_cm3)

    @property
    def bone_mask(self) -> np.ndarray:
        """bool [z, y, x]: cortical or trabecular bone."""
        return (self.labels == Tissue.CORTICAL_BONE) | (self.labels == Tissue.TRABECULAR_BONE)

    @property
    def trabecular_bone(self) -> np.ndarray:
        """bool [z, y, x]: trabecular bone (bone inside the trabecular VOI)."""
        return self.labels == Tissue.TRABECULAR_BONE

    @property
    def bv_tv(self) -> float:
        """Trabecular bone volume fraction in the VOI (0–1)."""
        tv = int(np.count_nonzero(self.trabecular_voi))
        return float(np.count_nonzero(self.trabecular_bone)) / max(tv, 1)

    def with_state(
        self, *, day: float, labels: np.ndarray, density_mgha_cm3: np.ndarray
    ) -> BonePhantom:
        """A copy at another time point with new labels and densities."""
        return replace(self, day=day, labels=labels, density_mgha_cm3=density_mgha_cm3)


def _centre_coords_um(n: int, voxel_um: float) -> np.ndarray:
    return (np.arange(n, dtype=np.float64) - (n - 1) / 2.0) * voxel_um


def gaussian_random_field(
    shape: tuple[int, int, int], sigma_vox: tuple[float, float, float], rng: np.random.Generator
) -> np.ndarray:
    """Unit-variance, zero-mean smoothed white noise (float32, ``shape``, σ per axis in voxels)."""
    field = rng.standard_normal(shape, dtype=np.float32)
    field = ndimage.gaussian_filter(field, sigma=sigma_vox, mode="wrap")
    field -= field.mean()
    field /= max(float(field.std()), 1e-12)
    return field


def make_phantom(
    site: str,
    shape: tuple[int, int, int] = (96, 96, 96),
    voxel_um: float = 10.0,
    seed: int = 0,
) -> BonePhantom:
    """Build the baseline (day 0) phantom of one animal at one site.

    Parameters
    ----------
    site : str
        One of :data:`acquisition.phantom.SITES`.
    shape : tuple of int
        Volume shape (nz, ny, nx), each at least 16.
    voxel_um : float
        Isotropic voxel size (µm), 1–100. Trabeculae need ≲ 10 µm to be resolved.
    seed : int
        The animal's seed; the same seed gives the same phantom bit for bit.

    Returns
    -------
    BonePhantom
    """
    anatomy = site_anatomy(site)
    if len(shape) != 3 or any(int(n) < 16 for n in shape):
        raise ValueError(f"shape must be three sizes of at least 16 voxels, got {shape}")
    if not 1.0 <= voxel_um <= 100.0:
        raise ValueError(f"voxel_um must be within 1–100 µm, got {voxel_um}")
    if int(seed) < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    nz, ny, nx = (int(n) for n in shape)
    rng = np.random.default_rng([int(seed), 0x9E3779B9])

    z = _centre_coords_um(nz, voxel_um)[:, None, None]
    y = _centre_coords_um(ny, voxel_um)[None, :, None]
    x = _centre_coords_um(nx, voxel_um)[None, None, :]
    fov_radius_um = min(nx, ny) * voxel_um / 2.0

    # Outline: shrink the bone to fit the field of view, clip the soft tissue, leave room
    # for the calibration insert at -y.
    scale = min(1.0, 0.55 * fov_radius_um / max(anatomy.periosteal_radii_um))
    z_frac = (z - z.min()) / max(float(np.ptp(z)), 1e-9)  # 0 at bottom, 1 at top
    flare = 1.0 + anatomy.flare * (z_frac - 0.5)
    # A per-animal change of the outline (a few per cent) so animals differ in shape too.
    jitter = 1.0 + 0.05 * rng.uniform(-1.0, 1.0, size=2)
    pr_x, pr_y = (r * scale * j for r, j in zip(anatomy.periosteal_radii_um, jitter, strict=True))
    st_x = min(anatomy.soft_tissue_radii_um[0], 0.62 * fov_radius_um)
    st_y = min(anatomy.soft_tissue_radii_um[1], 0.55 * fov_radius_um)
    cortex = max(anatomy.cortical_thickness_um * min(1.0, scale * 1.5), 2.0 * voxel_um)

    inside_soft = (x / st_x) ** 2 + (y / st_y) ** 2 <= 1.0
    periosteal = (x / (pr_x * flare)) ** 2 + (y / (pr_y * flare)) ** 2 <= 1.0
    endocortical = (x / (pr_x * flare - cortex)) ** 2 + (y / (pr_y * flare - cortex)) ** 2 <= 1.0
    inside_soft = np.broadcast_to(inside_soft, (nz, ny, nx))

    labels = np.zeros((nz, ny, nx), dtype=np.uint8)
    labels[inside_soft] = Tissue.SOFT_TISSUE
    labels[periosteal] = Tissue.CORTICAL_BONE
    voi = np.broadcast_to(endocortical, (nz, ny, nx)).copy()

    sigma_xy = anatomy.field_sigma_um / voxel_um
    field = gaussian_random_field(
        (nz, ny, nx), (sigma_xy * anatomy.anisotropy, sigma_xy, sigma_xy), rng
    )
    band = np.abs(field[voi])
    threshold = float(np.quantile(band, anatomy.bv_tv))
    trabecular = voi & (np.abs(field) < threshold)
    labels[voi] = Tissue.MARROW
    labels[trabecular] = Tissue.TRABECULAR_BONE

    # Keep only bone connected to the cortex (26-connectivity): no floating fragments.
    bone = labels >= Tissue.CORTICAL_BONE
    components, _ = ndimage.label(bone, structure=np.ones((3, 3, 3), dtype=bool))
    cortical_ids = np.unique(components[labels == Tissue.CORTICAL_BONE])
    floating = bone & ~np.isin(components, cortical_ids[cortical_ids > 0])
    labels[floating] = Tissue.MARROW

    density = np.zeros((nz, ny, nx), dtype=np.float32)
    density[labels == Tissue.CORTICAL_BONE] = CORTICAL_DENSITY_MGHA_CM3
    density[labels == Tissue.TRABECULAR_BONE] = TRABECULAR_DENSITY_MGHA_CM3

    rods = _add_calibration_insert(labels, density, x, y, fov_radius_um)
    return BonePhantom(
        site=site,
        voxel_um=float(voxel_um),
        seed=int(seed),
        day=0.0,
        labels=labels,
        density_mgha_cm3=density,
        trabecular_voi=voi,
        calibration_rods=rods,
    )


def _add_calibration_insert(
    labels: np.ndarray, density: np.ndarray, x: np.ndarray, y: np.ndarray, fov_radius_um: float
) -> tuple[CalibrationRod, ...]:
    """Resin disc at −y beside the animal, three HA rods inside it (modifies in place)."""
    resin_r = 0.18 * fov_radius_um
    cx, cy = 0.0, -0.76 * fov_radius_um
    resin = (x - cx) ** 2 + (y - cy) ** 2 <= resin_r**2
    labels[:, resin[0]] = Tissue.INSERT_RESIN
    rod_r = 0.32 * resin_r
    rods = []
    for k, rho in enumerate(CALIBRATION_DENSITIES_MGHA_CM3):
        angle = np.pi / 2 + 2 * np.pi * k / len(CALIBRATION_DENSITIES_MGHA_CM3)
        rx = cx + 0.55 * resin_r * np.cos(angle)
        ry = cy + 0.55 * resin_r * np.sin(angle)
        rod = ((x - rx) ** 2 + (y - ry) ** 2 <= rod_r**2)[0]
        labels[:, rod] = Tissue.HA_ROD
        density[:, rod] = rho
        rods.append(CalibrationRod(float(rho), float(rx), float(ry), float(rod_r)))
    return tuple(rods)

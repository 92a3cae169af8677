"""Tissue classes of the phantom and the density → attenuation model.

The phantom is monochromatic at an effective energy of 40 keV (a 60 kV tungsten
spectrum behind the usual 0.5 mm Al filter has its mean near there). Every voxel has a
tissue label and a mineral density ρ (mgHA/cm³, zero outside bone and the calibration
rods); its linear attenuation coefficient is

    μ = μ_base(label) + HA_SLOPE_PER_CM_PER_MGHA · ρ          (1/cm)

with μ_base the water-like matrix of the label. This is the linear calibration that
micro-CT uses to turn grey values into densities (HA phantoms, Bouxsein et al. 2010).

Constants (40 keV, from the NIST XCOM mass attenuation coefficients, Hubbell &
Seltzer, NISTIR 5632): water μ/ρ = 0.268 cm²/g → μ = 0.268 1/cm; hydroxyapatite
μ/ρ ≈ 0.98 cm²/g, so each mg of HA per cm³ adds ≈ 0.98e-3 1/cm minus the water it
displaces (≈ 0.08e-3) → slope 0.90e-3 1/cm per mgHA/cm³. Cortical mouse bone at
1150 mgHA/cm³ thus has μ ≈ 1.30 1/cm, close to ICRU cortical bone at 40 keV (1.28 1/cm).
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

__all__ = [
    "BASE_MU_PER_CM",
    "CALIBRATION_DENSITIES_MGHA_CM3",
    "CORTICAL_DENSITY_MGHA_CM3",
    "HA_SLOPE_PER_CM_PER_MGHA",
    "MU_WATER_PER_CM",
    "NEW_BONE_DENSITY_MGHA_CM3",
    "TRABECULAR_DENSITY_MGHA_CM3",
    "Tissue",
    "attenuation_per_cm",
    "density_from_attenuation",
]

MU_WATER_PER_CM = 0.268
"""Linear attenuation of water at the 40 keV effective energy (1/cm)."""

HA_SLOPE_PER_CM_PER_MGHA = 0.90e-3
"""Attenuation added per mgHA/cm³ of mineral in a water-like matrix (1/cm per mgHA/cm³)."""

CORTICAL_DENSITY_MGHA_CM3 = 1150.0
"""Tissue mineral density of mature cortical bone (adult mouse tibia ≈ 1100–1200)."""

TRABECULAR_DENSITY_MGHA_CM3 = 1000.0
"""Tissue mineral density of mature trabecular bone."""

NEW_BONE_DENSITY_MGHA_CM3 = 600.0
"""Density of freshly formed (primary-mineralised) bone; it matures towards
:data:`TRABECULAR_DENSITY_MGHA_CM3` with time constant ``MINERALISATION_DAYS``."""

MINERALISATION_DAYS = 15.0
"""Time constant of secondary mineralisation of new bone (days)."""

CALIBRATION_DENSITIES_MGHA_CM3 = (0.0, 250.0, 750.0)
"""Densities of the hydroxyapatite rods of the calibration insert."""


class Tissue(IntEnum):
    """Label values of :attr:`BonePhantom.labels`."""

    AIR = 0
    SOFT_TISSUE = 1
    MARROW = 2
    CORTICAL_BONE = 3
    TRABECULAR_BONE = 4
    INSERT_RESIN = 5
    HA_ROD = 6


BASE_MU_PER_CM = np.zeros(len(Tissue), dtype=np.float32)
"""μ of the matrix of each label (1/cm), indexed by :class:`Tissue`; mineral adds to it."""
BASE_MU_PER_CM[Tissue.SOFT_TISSUE] = 0.282  # muscle, 1.05 g/cm³
BASE_MU_PER_CM[Tissue.MARROW] = 0.259  # mixed red/yellow marrow, ≈ 0.98 g/cm³
BASE_MU_PER_CM[Tissue.CORTICAL_BONE] = MU_WATER_PER_CM
BASE_MU_PER_CM[Tissue.TRABECULAR_BONE] = MU_WATER_PER_CM
BASE_MU_PER_CM[Tissue.INSERT_RESIN] = MU_WATER_PER_CM  # water-equivalent epoxy
BASE_MU_PER_CM[Tissue.HA_ROD] = MU_WATER_PER_CM  # HA powder in water-equivalent resin


def attenuation_per_cm(labels: np.ndarray, density_mgha_cm3: np.ndarray) -> np.ndarray:
    """Linear attenuation coefficient of each voxel.

    Parameters
    ----------
    labels : numpy.ndarray
        uint8 tissue labels (:class:`Tissue`), any shape.
    density_mgha_cm3 : numpy.ndarray
        Mineral density (mgHA/cm³), same shape.

    Returns
    -------
    numpy.ndarray
        float32 μ (1/cm), same shape.
    """
    mu = BASE_MU_PER_CM[labels]
    mu += np.float32(HA_SLOPE_PER_CM_PER_MGHA) * density_mgha_cm3.astype(np.float32, copy=False)
    return mu


def density_from_attenuation(mu_per_cm: np.ndarray | float) -> np.ndarray | float:
    """Invert the model for a water-like matrix: ρ = (μ − μ_water) / slope (mgHA/cm³)."""
    return (np.asarray(mu_per_cm) - MU_WATER_PER_CM) / HA_SLOPE_PER_CM_PER_MGHA

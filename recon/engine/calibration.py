"""Hydroxyapatite (HA) density calibration: attenuation (1/cm) → mgHA/cm³.

The mean attenuation inside each insert of an HA calibration phantom is fitted
against the insert's known density by least squares, ``ρ = slope · μ + intercept``
— the standard linear calibration of micro-CT bone mineral density (Bouxsein et
al., JBMR 25:1468, 2010, on reporting TMD; Nazarian et al., Calcif. Tissue Int.
83:368, 2008, on its linearity).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["HACalibration", "apply_calibration", "fit_ha_calibration"]


@dataclass(frozen=True)
class HACalibration:
    """Linear calibration ``density_mgha_cm3 = slope · mu_per_cm + intercept``.

    Attributes
    ----------
    slope : float
        mgHA/cm³ per 1/cm.
    intercept : float
        mgHA/cm³.
    mean_mu_per_cm : tuple of float
        Mean attenuation measured in each insert.
    densities_mgha_cm3 : tuple of float
        Known insert densities.
    residuals_mgha_cm3 : tuple of float
        Fitted minus known density, per insert.
    r_squared : float
        Coefficient of determination of the fit.
    """

    slope: float
    intercept: float
    mean_mu_per_cm: tuple[float, ...]
    densities_mgha_cm3: tuple[float, ...]
    residuals_mgha_cm3: tuple[float, ...]
    r_squared: float

    def to_dict(self) -> dict:
        """Plain-type description (for file attributes and provenance)."""
        return {
            "slope": self.slope,
            "intercept": self.intercept,
            "mean_mu_per_cm": list(self.mean_mu_per_cm),
            "densities_mgha_cm3": list(self.densities_mgha_cm3),
            "residuals_mgha_cm3": list(self.residuals_mgha_cm3),
            "r_squared": self.r_squared,
        }


def fit_ha_calibration(
    volume: np.ndarray,
    masks: Sequence[np.ndarray],
    densities_mgha_cm3: Sequence[float],
) -> HACalibration:
    """Fit the HA calibration from insert regions of a reconstructed volume.

    Parameters
    ----------
    volume : ndarray
        Attenuation, 1/cm.
    masks : sequence of bool ndarray, each the shape of ``volume``
        One region per insert (keep them inside the insert, away from edges).
    densities_mgha_cm3 : sequence of float
        Known density of each insert.

    Returns
    -------
    HACalibration

    Raises
    ------
    ValueError
        Fewer than two inserts, mismatched counts or shapes, empty masks, or
        inserts of equal attenuation.
    """
    vol = np.asarray(volume)
    dens = np.asarray(densities_mgha_cm3, dtype=np.float64).ravel()
    if len(masks) != dens.size:
        raise ValueError(f"masks: {len(masks)} masks for {dens.size} densities_mgha_cm3 values")
    if dens.size < 2:
        raise ValueError("densities_mgha_cm3: at least two inserts are needed for a linear fit")
    means = []
    for k, m in enumerate(masks):
        m = np.asarray(m, dtype=bool)
        if m.shape != vol.shape:
            raise ValueError(f"masks[{k}]: shape {m.shape} does not match volume {vol.shape}")
        if not m.any():
            raise ValueError(f"masks[{k}]: empty region")
        means.append(float(vol[m].mean(dtype=np.float64)))
    mu = np.asarray(means)
    if np.ptp(mu) == 0:
        raise ValueError("masks: all inserts have the same attenuation; cannot fit a slope")
    slope, intercept = np.polyfit(mu, dens, 1)
    fitted = slope * mu + intercept
    residuals = fitted - dens
    ss_tot = float(np.sum((dens - dens.mean()) ** 2))
    r2 = 1.0 - float(np.sum(residuals**2)) / ss_tot if ss_tot > 0 else 1.0
    return HACalibration(
        float(slope),
        float(intercept),
        tuple(means),
        tuple(float(d) for d in dens),
        tuple(float(r) for r in residuals),
        r2,
    )


def apply_calibration(volume: np.ndarray, calibration: HACalibration) -> np.ndarray:
    """Density in mgHA/cm³ of an attenuation volume (1/cm), float32."""
    vol = np.asarray(volume, dtype=np.float32)
    return vol * np.float32(calibration.slope) + np.float32(calibration.intercept)

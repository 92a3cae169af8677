"""Bone mineral density (BMD) and tissue mineral density (TMD) of a calibrated volume.

With grey values calibrated to mgHA/cm³ (hydroxyapatite phantoms, see
``recon/engine/calibration.py``): BMD is the mean over the whole region (bone and
marrow), TMD the mean over the bone voxels only (Bouxsein et al. 2010).
"""

from __future__ import annotations

import numpy as np

__all__ = ["mineral_density"]


def mineral_density(
    density_mgha_cm3: np.ndarray, bone: np.ndarray, region: np.ndarray | None = None
) -> tuple[float, float]:
    """BMD and TMD (mgHA/cm³).

    Parameters
    ----------
    density_mgha_cm3 : (nz, ny, nx) ndarray of float
        Calibrated volume (mgHA/cm³).
    bone : (nz, ny, nx) ndarray of bool
        Segmented bone.
    region : (nz, ny, nx) ndarray of bool, optional
        Region of interest (the total volume TV); the whole array by default.

    Returns
    -------
    bmd_mgha_cm3 : float
        Mean density over the region; NaN for an empty region.
    tmd_mgha_cm3 : float
        Mean density over the bone in the region; NaN without bone.

    Raises
    ------
    ValueError
        If the shapes differ or the density is not finite.

    Examples
    --------
    >>> import numpy as np
    >>> rho = np.array([[[1000.0, 0.0]]])
    >>> mineral_density(rho, rho > 500)
    (500.0, 1000.0)
    """
    rho = np.asarray(density_mgha_cm3)
    bone = np.asarray(bone, dtype=bool)
    if rho.shape != bone.shape or rho.ndim != 3:
        raise ValueError(
            f"density_mgha_cm3 {rho.shape} and bone {bone.shape} must be 3-D of the same shape"
        )
    if not np.isfinite(rho).all():
        raise ValueError("density_mgha_cm3 must be finite (no NaN or inf)")
    if region is None:
        tv = rho
        bv = rho[bone]
    else:
        region = np.asarray(region, dtype=bool)
        if region.shape != rho.shape:
            raise ValueError(f"region must have the volume's shape {rho.shape}")
        tv = rho[region]
        bv = rho[bone & region]
    bmd = float(tv.mean(dtype=np.float64)) if tv.size else float("nan")
    tmd = float(bv.mean(dtype=np.float64)) if bv.size else float("nan")
    return bmd, tmd

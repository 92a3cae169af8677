"""Remodelling between two registered scans, in one call.

:func:`analyse_remodelling` chains :func:`~analysis.remodelling.classify.classify_remodelling`
and :func:`~analysis.remodelling.measure.measure_remodelling`: grey values in, labels
and BFR/BV, BRR/BV, MS/BS, ES/BS, MAR, MRR out, with the settings used.
"""

from __future__ import annotations

import numpy as np

from .classify import RemodellingParameters, classify_remodelling
from .measure import RemodellingResult, measure_remodelling

__all__ = ["analyse_remodelling"]


def analyse_remodelling(
    baseline: np.ndarray,
    followup: np.ndarray,
    voxel_um: float,
    interval_days: float,
    parameters: RemodellingParameters | None = None,
    *,
    mask: np.ndarray | None = None,
) -> RemodellingResult:
    """Classify and measure bone formation and resorption between two scans.

    Parameters
    ----------
    baseline : (nz, ny, nx) ndarray
        Baseline grey values (mgHA/cm³ or 1/cm).
    followup : (nz, ny, nx) ndarray
        Follow-up grey values resampled onto the baseline grid
        (:func:`analysis.registration.resample_onto` with ``order=1``).
    voxel_um : float
        Isotropic voxel size (µm).
    interval_days : float
        Days between the two scans.
    parameters : RemodellingParameters, optional
        Classification settings; defaults as in :class:`RemodellingParameters`.
    mask : (nz, ny, nx) ndarray of bool, optional
        Region to analyse (e.g. a trabecular VOI).

    Returns
    -------
    RemodellingResult
        Labels, volumes, rates and the settings used.

    Examples
    --------
    >>> import numpy as np
    >>> base = np.zeros((32, 32, 32), np.float32)
    >>> base[10:20, 4:28, 4:28] = 1000.0
    >>> follow = np.zeros_like(base)
    >>> follow[12:22, 4:28, 4:28] = 1000.0
    >>> params = RemodellingParameters(threshold=500.0, density_change=225.0)
    >>> result = analyse_remodelling(base, follow, 10.0, 7.0, params)
    >>> round(result.mar_um_per_day, 3), round(result.mrr_um_per_day, 3)
    (2.857, 2.857)
    """
    params = parameters or RemodellingParameters()
    labels = classify_remodelling(baseline, followup, params, mask=mask)
    region = None if mask is None else np.asarray(mask, dtype=bool)
    return measure_remodelling(labels, voxel_um, interval_days, region=region, parameters=params)

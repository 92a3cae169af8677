"""Dynamic bone parameters from a remodelling label volume.

With ``FV``, ``RV`` the formed and resorbed volumes, ``BV₀ = quiescent + resorbed``
and ``BV₁ = quiescent + formed`` the bone volumes of the two scans and ``Δt`` the
interval in days (Schulte et al. 2011; names after Bouxsein et al. 2010):

* BFR/BV = FV / (BV₀ · Δt) · 100 and BRR/BV = RV / (BV₀ · Δt) · 100, in %/day;
* MS/BS (%): the share of the baseline bone surface on which bone was formed — the
  voxel faces between baseline bone and formed voxels (the cement line beneath the
  formation packages) over all faces between baseline bone and non-bone;
* ES/BS (%): the share of the follow-up bone surface that is the floor of a
  resorption cavity — the faces between follow-up bone and resorbed voxels over
  all faces between follow-up bone and non-bone;
* MAR and MRR (µm/day): the mean local thickness (Hildebrand & Rüegsegger, see
  :mod:`analysis.remodelling.thickness`) of the formed and of the resorbed voxels,
  times the voxel size, over Δt — the mean thickness of the formation packages and
  the mean depth of the resorption cavities gained or lost per day;
* net change (%): (BV₁ − BV₀) / BV₀ · 100 over the interval.

Faces on the array border, or with a voxel outside the analysed region, are not
counted. Rates that have nothing to measure (no formation, no baseline bone) are
NaN, never a division error.

References
----------
.. [1] Schulte FA, Lambers FM, Kuhn G, Müller R. In vivo micro-computed tomography
   allows direct three-dimensional quantification of both bone formation and bone
   resorption parameters using time-lapsed imaging. Bone 2011;48:433-442.
.. [2] Bouxsein ML, Boyd SK, Christiansen BA, Guldberg RE, Jepsen KJ, Müller R.
   Guidelines for assessment of bone microstructure in rodents using micro-computed
   tomography. J Bone Miner Res 2010;25:1468-1486.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .classify import RemodellingParameters
from .labels import FORMED, QUIESCENT, RESORBED
from .surfaces import count_faces
from .thickness import mean_thickness

__all__ = ["RemodellingResult", "measure_remodelling"]

_UM3_PER_MM3 = 1e9


@dataclass(frozen=True)
class RemodellingResult:
    """Formed / resorbed / quiescent labels and the dynamic parameters.

    Attributes
    ----------
    labels : (nz, ny, nx) ndarray of uint8
        The label volume (see :mod:`analysis.remodelling.labels`).
    voxel_um : float
        Isotropic voxel size (µm).
    interval_days : float
        Time between the baseline and the follow-up scan (days).
    bv0_mm3, bv1_mm3 : float
        Bone volume at baseline and at follow-up (mm³).
    fv_mm3, rv_mm3 : float
        Formed and resorbed bone volume (mm³).
    bfr_bv_pct_per_day, brr_bv_pct_per_day : float
        BFR/BV and BRR/BV (%/day).
    ms_bs_pct, es_bs_pct : float
        MS/BS and ES/BS (%).
    mar_um_per_day, mrr_um_per_day : float
        MAR and MRR (µm/day); NaN where nothing was formed / resorbed.
    net_change_pct : float
        (BV₁ − BV₀) / BV₀ over the interval (%).
    parameters : RemodellingParameters or None
        The classification settings, when the labels came from grey values.
    """

    labels: np.ndarray
    voxel_um: float
    interval_days: float
    bv0_mm3: float
    bv1_mm3: float
    fv_mm3: float
    rv_mm3: float
    bfr_bv_pct_per_day: float
    brr_bv_pct_per_day: float
    ms_bs_pct: float
    es_bs_pct: float
    mar_um_per_day: float
    mrr_um_per_day: float
    net_change_pct: float
    parameters: RemodellingParameters | None = None

    @property
    def net_rate_pct_per_day(self) -> float:
        """BFR/BV − BRR/BV (%/day)."""
        return self.bfr_bv_pct_per_day - self.brr_bv_pct_per_day

    def to_dict(self) -> dict[str, Any]:
        """The figures and settings as a JSON-ready dict (without the label volume)."""
        out: dict[str, Any] = {
            name: getattr(self, name)
            for name in (
                "voxel_um",
                "interval_days",
                "bv0_mm3",
                "bv1_mm3",
                "fv_mm3",
                "rv_mm3",
                "bfr_bv_pct_per_day",
                "brr_bv_pct_per_day",
                "ms_bs_pct",
                "es_bs_pct",
                "mar_um_per_day",
                "mrr_um_per_day",
                "net_change_pct",
            )
        }
        out["parameters"] = None if self.parameters is None else self.parameters.to_dict()
        return out


def measure_remodelling(
    labels: np.ndarray,
    voxel_um: float,
    interval_days: float,
    *,
    region: np.ndarray | None = None,
    parameters: RemodellingParameters | None = None,
) -> RemodellingResult:
    """Compute BFR/BV, BRR/BV, MS/BS, ES/BS, MAR, MRR from a label volume.

    Parameters
    ----------
    labels : (nz, ny, nx) ndarray of uint8
        Remodelling labels (0 background, 1 quiescent, 2 formed, 3 resorbed).
    voxel_um : float
        Isotropic voxel size (µm).
    interval_days : float
        Time between the two scans (days), > 0.
    region : (nz, ny, nx) ndarray of bool, optional
        The analysed region; surface faces reaching outside it are not counted.
    parameters : RemodellingParameters, optional
        Classification settings, stored with the result for provenance.

    Returns
    -------
    RemodellingResult

    Raises
    ------
    ValueError
        If ``labels`` is not 3-D or holds values other than 0–3, or ``voxel_um`` or
        ``interval_days`` is not positive.
    """
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"labels must be a 3-D array [z, y, x], got shape {labels.shape}")
    if labels.dtype.kind not in "iu" or (labels.size and int(labels.max()) > RESORBED):
        raise ValueError("labels must be integers 0 (background) to 3 (resorbed)")
    voxel_um = float(voxel_um)
    if not np.isfinite(voxel_um) or voxel_um <= 0:
        raise ValueError(f"voxel_um must be a positive number of micrometres, got {voxel_um!r}")
    interval_days = float(interval_days)
    if not np.isfinite(interval_days) or interval_days <= 0:
        raise ValueError(f"interval_days must be a positive number of days, got {interval_days!r}")
    if region is not None:
        region = np.asarray(region, dtype=bool)
        if region.shape != labels.shape:
            raise ValueError(f"region must have the labels' shape {labels.shape}")

    quiescent = labels == QUIESCENT
    formed = labels == FORMED
    resorbed = labels == RESORBED
    bone0 = quiescent | resorbed
    bone1 = quiescent | formed

    n_q, n_f, n_r = (int(np.count_nonzero(m)) for m in (quiescent, formed, resorbed))
    n0, n1 = n_q + n_r, n_q + n_f
    voxel_mm3 = voxel_um**3 / _UM3_PER_MM3

    ms = count_faces(bone0, formed, region)
    bs0 = count_faces(bone0, ~bone0, region)
    es = count_faces(bone1, resorbed, region)
    bs1 = count_faces(bone1, ~bone1, region)

    return RemodellingResult(
        labels=labels.astype(np.uint8, copy=False),
        voxel_um=voxel_um,
        interval_days=interval_days,
        bv0_mm3=n0 * voxel_mm3,
        bv1_mm3=n1 * voxel_mm3,
        fv_mm3=n_f * voxel_mm3,
        rv_mm3=n_r * voxel_mm3,
        bfr_bv_pct_per_day=_ratio(100.0 * n_f, n0 * interval_days),
        brr_bv_pct_per_day=_ratio(100.0 * n_r, n0 * interval_days),
        ms_bs_pct=_ratio(100.0 * ms, bs0),
        es_bs_pct=_ratio(100.0 * es, bs1),
        mar_um_per_day=mean_thickness(formed) * voxel_um / interval_days,
        mrr_um_per_day=mean_thickness(resorbed) * voxel_um / interval_days,
        net_change_pct=_ratio(100.0 * (n1 - n0), n0),
        parameters=parameters,
    )


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / denominator if denominator > 0 else float("nan")

"""Formed, resorbed and quiescent bone from two registered scans.

The time-lapse method of Schulte et al. (2011): both grey-value volumes (baseline
and the follow-up already resampled onto the baseline grid) are smoothed with a
Gaussian filter and thresholded; voxels that are bone only in the follow-up are
*formed*, bone only in the baseline *resorbed*, bone in both *quiescent*. Two
filters keep noise and partial-volume effects out of the change:

* a density change — a formed voxel must have gained, a resorbed voxel lost, more
  than ``density_change`` (grey-value units, e.g. 225 mgHA/cm³ as in HR-pQCT practice)
  between the smoothed volumes;
* a minimum cluster size — formed and resorbed clusters (connected components) with
  fewer than ``min_cluster_voxels`` voxels are taken as noise.

A voxel that fails either filter keeps its baseline state (background or quiescent
bone), so the baseline bone volume stays that of the baseline scan and
``BV₁ − BV₀ = FV − RV`` holds exactly.

References
----------
.. [1] Schulte FA, Lambers FM, Kuhn G, Müller R. In vivo micro-computed tomography
   allows direct three-dimensional quantification of both bone formation and bone
   resorption parameters using time-lapsed imaging. Bone 2011;48:433-442.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from .labels import BACKGROUND, FORMED, QUIESCENT, RESORBED

__all__ = ["RemodellingParameters", "classify_masks", "classify_remodelling"]


@dataclass(frozen=True)
class RemodellingParameters:
    """Settings of the formed / resorbed / quiescent classification.

    Attributes
    ----------
    threshold : float
        Bone threshold on the smoothed grey values, in the volumes' units
        (mgHA/cm³ or 1/cm). Schulte et al. used 580 mgHA/cm³ for mouse vertebrae.
    sigma_vox : float
        Standard deviation of the Gaussian smoothing (voxels); 0 disables it.
    truncate : float
        Gaussian kernel half-width in standard deviations.
    density_change : float or None
        Smallest grey-value change (same units as ``threshold``) for a voxel to be
        formed or resorbed; None disables the criterion (e.g. uncalibrated data).
    min_cluster_voxels : int
        Formed or resorbed clusters smaller than this many voxels are discarded.
    connectivity : {1, 2, 3}
        Neighbourhood of the clusters: 1 faces (6-connected), 2 faces and edges
        (18), 3 faces, edges and corners (26).
    """

    threshold: float = 580.0
    sigma_vox: float = 1.2
    truncate: float = 2.0
    density_change: float | None = None
    min_cluster_voxels: int = 5
    connectivity: int = 1

    def __post_init__(self) -> None:
        if not np.isfinite(self.threshold):
            raise ValueError(f"threshold must be finite, got {self.threshold!r}")
        if not self.sigma_vox >= 0:
            raise ValueError(f"sigma_vox must be >= 0, got {self.sigma_vox!r}")
        if not self.truncate > 0:
            raise ValueError(f"truncate must be > 0, got {self.truncate!r}")
        if self.density_change is not None and not self.density_change >= 0:
            raise ValueError(f"density_change must be >= 0 or None, got {self.density_change!r}")
        if int(self.min_cluster_voxels) != self.min_cluster_voxels or self.min_cluster_voxels < 1:
            raise ValueError(
                f"min_cluster_voxels must be a positive integer, got {self.min_cluster_voxels!r}"
            )
        if self.connectivity not in (1, 2, 3):
            raise ValueError(f"connectivity must be 1, 2 or 3, got {self.connectivity!r}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the settings."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RemodellingParameters:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)


def classify_remodelling(
    baseline: np.ndarray,
    followup: np.ndarray,
    parameters: RemodellingParameters | None = None,
    *,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Label each voxel background, quiescent, formed or resorbed.

    Parameters
    ----------
    baseline : (nz, ny, nx) ndarray
        Baseline grey values (mgHA/cm³ or 1/cm).
    followup : (nz, ny, nx) ndarray
        Follow-up grey values, registered and resampled onto the baseline grid
        (see :func:`analysis.registration.resample_onto`).
    parameters : RemodellingParameters, optional
        Smoothing, threshold, density change and cluster settings.
    mask : (nz, ny, nx) ndarray of bool, optional
        Region to analyse (e.g. the trabecular VOI); voxels outside are background.

    Returns
    -------
    (nz, ny, nx) ndarray of uint8
        Labels :data:`BACKGROUND`, :data:`QUIESCENT`, :data:`FORMED`, :data:`RESORBED`.

    Raises
    ------
    ValueError
        If the arrays are not 3-D, differ in shape, or are not finite.
    """
    params = parameters or RemodellingParameters()
    g0 = _check_grey(baseline, "baseline")
    g1 = _check_grey(followup, "followup")
    if g1.shape != g0.shape:
        raise ValueError(f"followup must have the baseline's shape {g0.shape}, got {g1.shape}")
    region = _check_mask(mask, g0.shape)
    s0 = _smooth(g0, params)
    s1 = _smooth(g1, params)
    bone0 = s0 > params.threshold
    bone1 = s1 > params.threshold
    if params.density_change is None:
        gained = lost = None
    else:
        difference = s1 - s0
        gained = difference > params.density_change
        lost = difference < -params.density_change
    return _label(bone0, bone1, gained, lost, params, region)


def classify_masks(
    baseline_bone: np.ndarray,
    followup_bone: np.ndarray,
    *,
    min_cluster_voxels: int = 5,
    connectivity: int = 1,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Label formed, resorbed and quiescent bone from two registered bone masks.

    Parameters
    ----------
    baseline_bone, followup_bone : (nz, ny, nx) ndarray of bool
        Segmented bone of the two scans on the baseline grid (the follow-up
        resampled with nearest-neighbour interpolation).
    min_cluster_voxels : int
        Formed or resorbed clusters smaller than this are discarded.
    connectivity : {1, 2, 3}
        Cluster neighbourhood (see :class:`RemodellingParameters`).
    mask : (nz, ny, nx) ndarray of bool, optional
        Region to analyse; voxels outside are background.

    Returns
    -------
    (nz, ny, nx) ndarray of uint8
        The label volume, as :func:`classify_remodelling`.
    """
    b0 = np.asarray(baseline_bone)
    b1 = np.asarray(followup_bone)
    if b0.ndim != 3:
        raise ValueError(f"baseline_bone must be a 3-D array, got shape {b0.shape}")
    if b1.shape != b0.shape:
        raise ValueError(
            f"followup_bone must have baseline_bone's shape {b0.shape}, got {b1.shape}"
        )
    params = RemodellingParameters(
        min_cluster_voxels=min_cluster_voxels, connectivity=connectivity, sigma_vox=0.0
    )
    region = _check_mask(mask, b0.shape)
    return _label(b0.astype(bool), b1.astype(bool), None, None, params, region)


def _label(
    bone0: np.ndarray,
    bone1: np.ndarray,
    gained: np.ndarray | None,
    lost: np.ndarray | None,
    params: RemodellingParameters,
    region: np.ndarray | None,
) -> np.ndarray:
    if region is not None:
        bone0 = bone0 & region
        bone1 = bone1 & region
    formed = bone1 & ~bone0
    resorbed = bone0 & ~bone1
    if gained is not None:
        formed &= gained
        resorbed &= lost
    structure = ndimage.generate_binary_structure(3, params.connectivity)
    formed = _drop_small_clusters(formed, params.min_cluster_voxels, structure)
    resorbed = _drop_small_clusters(resorbed, params.min_cluster_voxels, structure)

    labels = np.full(bone0.shape, BACKGROUND, dtype=np.uint8)
    labels[bone0] = QUIESCENT  # baseline bone; resorbed voxels are relabelled below
    labels[formed] = FORMED
    labels[resorbed] = RESORBED
    return labels


def _drop_small_clusters(mask: np.ndarray, min_voxels: int, structure: np.ndarray) -> np.ndarray:
    if min_voxels <= 1 or not mask.any():
        return mask
    clusters, count = ndimage.label(mask, structure=structure)
    sizes = np.bincount(clusters.ravel(), minlength=count + 1)
    keep = sizes >= min_voxels
    keep[0] = False
    return keep[clusters]


def _smooth(volume: np.ndarray, params: RemodellingParameters) -> np.ndarray:
    data = volume.astype(np.float32, copy=False)
    if params.sigma_vox == 0:
        return data
    return ndimage.gaussian_filter(
        data, sigma=params.sigma_vox, truncate=params.truncate, mode="nearest"
    )


def _check_grey(volume: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(volume)
    if arr.ndim != 3:
        raise ValueError(f"{name} must be a 3-D array [z, y, x], got shape {arr.shape}")
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold grey values (a numeric dtype), got {arr.dtype}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return arr


def _check_mask(mask: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    if mask is None:
        return None
    region = np.asarray(mask, dtype=bool)
    if region.shape != shape:
        raise ValueError(f"mask must have the volumes' shape {shape}, got {region.shape}")
    return region

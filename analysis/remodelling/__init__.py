"""Bone formation and resorption from time-lapsed in-vivo micro-CT.

The method of Schulte et al. (Bone 2011;48:433): two scans of the same bone,
registered (:mod:`analysis.registration`), are compared voxel by voxel into
formed, resorbed and quiescent bone, from which the dynamic parameters follow —
BFR/BV, BRR/BV, MS/BS, ES/BS, MAR, MRR.

Modules
-------
labels
    The label values of a remodelling volume.
classify
    Grey values (or masks) → label volume.
thickness
    Local thickness of formation packages and resorption cavities.
surfaces
    Surface extent by voxel-face counting.
measure
    Label volume → dynamic parameters.
analyse
    Both steps in one call.
"""

from .analyse import analyse_remodelling
from .classify import RemodellingParameters, classify_masks, classify_remodelling
from .labels import BACKGROUND, FORMED, LABEL_NAMES, QUIESCENT, RESORBED
from .measure import RemodellingResult, measure_remodelling
from .thickness import local_thickness, mean_thickness

__all__ = [
    "BACKGROUND",
    "FORMED",
    "LABEL_NAMES",
    "QUIESCENT",
    "RESORBED",
    "RemodellingParameters",
    "RemodellingResult",
    "analyse_remodelling",
    "classify_masks",
    "classify_remodelling",
    "local_thickness",
    "mean_thickness",
    "measure_remodelling",
]

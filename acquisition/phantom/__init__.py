"""Digital mouse-bone phantom: anatomy, trabecular network, remodelling and ground truth."""

from .generate import BonePhantom, CalibrationRod, make_phantom
from .materials import Tissue, attenuation_per_cm, density_from_attenuation
from .sites import SITES, site_anatomy

__all__ = [
    "SITES",
    "BonePhantom",
    "CalibrationRod",
    "Tissue",
    "attenuation_per_cm",
    "density_from_attenuation",
    "make_phantom",
    "site_anatomy",
]

"""Digital mouse-bone phantom: anatomy, trabecular network, remodelling and ground truth."""

from .generate import BonePhantom, CalibrationRod, make_phantom
from .materials import Tissue, attenuation_per_cm, density_from_attenuation
from .remodel import phantom_at, phantom_series
from .sites import SITES, site_anatomy
from .treatments import AGENT_EFFECTS, TreatmentSpec, turnover_rates, unknown_agents
from .truth import (
    GroundTruth,
    ground_truth,
    read_truth,
    remodelling_rates,
    truth_path_for,
    write_truth,
)

__all__ = [
    "AGENT_EFFECTS",
    "SITES",
    "BonePhantom",
    "CalibrationRod",
    "GroundTruth",
    "Tissue",
    "TreatmentSpec",
    "attenuation_per_cm",
    "density_from_attenuation",
    "ground_truth",
    "make_phantom",
    "phantom_at",
    "phantom_series",
    "read_truth",
    "remodelling_rates",
    "site_anatomy",
    "truth_path_for",
    "turnover_rates",
    "unknown_agents",
    "write_truth",
]

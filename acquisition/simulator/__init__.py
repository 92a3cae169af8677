"""The simulated X-ray microscope's physics: cone-beam projection and the detector model."""

from .detector import DetectorModel, expose, flat_field_pattern
from .projector import UM_PER_CM, forward_project, line_integrals

__all__ = [
    "UM_PER_CM",
    "DetectorModel",
    "expose",
    "flat_field_pattern",
    "forward_project",
    "line_integrals",
]

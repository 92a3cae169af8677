"""Labels of a remodelling volume (Schulte et al., Bone 2011;48:433).

A remodelling label volume is a ``uint8`` array on the baseline grid: each voxel is
background in both scans, bone in both (quiescent), bone only in the follow-up
(formed) or bone only in the baseline (resorbed).
"""

from __future__ import annotations

__all__ = ["BACKGROUND", "FORMED", "LABEL_NAMES", "QUIESCENT", "RESORBED"]

BACKGROUND: int = 0
"""Not bone in either scan (marrow, soft tissue, outside the region)."""
QUIESCENT: int = 1
"""Bone in the baseline and in the follow-up."""
FORMED: int = 2
"""Bone in the follow-up only: new bone formed over the interval."""
RESORBED: int = 3
"""Bone in the baseline only: bone resorbed over the interval."""

LABEL_NAMES: dict[int, str] = {
    BACKGROUND: "background",
    QUIESCENT: "quiescent",
    FORMED: "formed",
    RESORBED: "resorbed",
}
"""Name of each label value, e.g. for a viewer's legend or an HDF5 attribute."""

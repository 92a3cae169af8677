"""Tibia phantoms with a thicker cortex, for the compartment tests and their bench.

The phantom (:func:`acquisition.phantom.make_phantom`, proximal tibia, 10 µm voxels)
knows its true trabecular VOI (the endocortical ellipse); its cortex is ≈ 4.6 voxels
thick. :func:`thickened` adds cortex on the periosteal side, the trabecular
compartment unchanged.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from acquisition.phantom.materials import Tissue

THRESHOLD_MGHA_CM3 = 500.0
"""Bone threshold of the phantom's densities (mgHA/cm³)."""

GROWN_VOX = 6.0
"""Cortex added by the thick variant (voxels)."""


def thickened(phantom, grown_vox: float | np.ndarray) -> np.ndarray:
    """The phantom's bone with ``grown_vox`` more voxels of cortex outside, in plane.

    ``grown_vox`` may vary over the plane (an array broadcast to ``[y, x]``); the
    calibration insert is kept clear. 0 gives the phantom's bone.
    """
    bone = phantom.density_mgha_cm3 > THRESHOLD_MGHA_CM3
    periosteal = np.stack(
        [ndimage.binary_fill_holes(plane == Tissue.CORTICAL_BONE) for plane in phantom.labels]
    )
    distance = ndimage.distance_transform_edt(~periosteal, sampling=(1e6, 1.0, 1.0))
    insert = np.isin(phantom.labels, (Tissue.INSERT_RESIN, Tissue.HA_ROD))
    clear_of_insert = ~ndimage.binary_dilation(insert, iterations=2)
    return bone | ((distance <= grown_vox) & ~periosteal & clear_of_insert)


def uneven_growth(shape: tuple[int, int, int]) -> np.ndarray:
    """``grown_vox`` from 0 (at -y, beside the insert) to :data:`GROWN_VOX` (at +y), ``[y, x]``."""
    ny, nx = shape[1:]
    y, x = np.meshgrid(np.arange(ny) - (ny - 1) / 2, np.arange(nx) - (nx - 1) / 2, indexing="ij")
    return GROWN_VOX / 2 * (1 + np.sin(np.arctan2(y, x)))

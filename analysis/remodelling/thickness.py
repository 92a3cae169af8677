"""Local thickness of formation packages and resorption cavities.

MAR and MRR of time-lapsed micro-CT are the mean thickness of the formation
packages and of the resorption cavities divided by the interval (Schulte et al.
2011). The thickness is the model-independent local thickness of Hildebrand &
Rüegsegger (1997) with sub-voxel ridge radii, computed by
:func:`analysis.morphometry.thickness.local_thickness` (``subvoxel=True``): a layer
``k`` voxels thick gets ``k`` exactly, for odd and even ``k``, so a package formed by
``k`` voxels over ``Δt`` days gives ``MAR = k · voxel / Δt``.

References
----------
.. [1] Hildebrand T, Rüegsegger P. A new method for the model-independent assessment
   of thickness in three-dimensional images. J Microsc 1997;185:67-75.
.. [2] Schulte FA, Lambers FM, Kuhn G, Müller R. In vivo micro-computed tomography
   allows direct three-dimensional quantification of both bone formation and bone
   resorption parameters using time-lapsed imaging. Bone 2011;48:433-442.
"""

from __future__ import annotations

import numpy as np

from ..morphometry.thickness import local_thickness as _local_thickness

__all__ = ["local_thickness", "mean_thickness"]


def local_thickness(mask: np.ndarray) -> np.ndarray:
    """Sub-voxel local thickness of each voxel of a structure.

    Parameters
    ----------
    mask : (nz, ny, nx) ndarray of bool
        The structure (e.g. the formed voxels of a remodelling label volume). The
        array border is a cut: the structure is taken to continue beyond it.

    Returns
    -------
    (nz, ny, nx) ndarray of float32
        Thickness in voxels inside the structure, 0 outside.

    Raises
    ------
    ValueError
        If ``mask`` is not a 3-D array.
    """
    return _local_thickness(mask, subvoxel=True)


def mean_thickness(mask: np.ndarray) -> float:
    """Volume-weighted mean local thickness of a structure (voxels); NaN if empty.

    Parameters
    ----------
    mask : (nz, ny, nx) ndarray of bool
        The structure.

    Returns
    -------
    float
        Mean of :func:`local_thickness` over the structure's voxels.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim == 3 and not mask.any():
        return float("nan")
    thickness = local_thickness(mask)
    return float(thickness[mask].mean(dtype=np.float64))

"""Cortical bone geometry: Tt.Ar, Ct.Ar, Ma.Ar, Ct.Ar/Tt.Ar, Ct.Th.

Per transverse slice (z-plane) of a cortical compartment: the cortical bone area
``Ct.Ar``, the total area inside the periosteal envelope ``Tt.Ar`` (the bone with its
enclosed holes filled) and the marrow area ``Ma.Ar = Tt.Ar − Ct.Ar``, each averaged
over the slices; ``Ct.Th`` is the mean 3-D local thickness of the cortical bone
(Hildebrand & Rüegsegger, :mod:`analysis.morphometry.thickness`), as Bouxsein et al.
(2010) recommend over the 2-D ring model.

References
----------
.. [1] Bouxsein ML et al. Guidelines for assessment of bone microstructure in rodents
   using micro-computed tomography. J Bone Miner Res 2010;25:1468-1486.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from .thickness import local_thickness, thickness_stats

__all__ = ["CorticalGeometry", "cortical_geometry"]


@dataclass(frozen=True)
class CorticalGeometry:
    """Mean cross-sectional figures of a cortical compartment (ASBMR names).

    Attributes
    ----------
    tt_ar_mm2, ct_ar_mm2, ma_ar_mm2 : float
        Total, cortical and marrow area (mm²), means over the slices.
    ct_ar_tt_ar : float
        Cortical area fraction Ct.Ar/Tt.Ar (1).
    ct_th_um, ct_th_sd_um : float
        Mean and SD of the cortical local thickness (µm).
    n_slices : int
        Slices that hold cortical bone.
    """

    tt_ar_mm2: float
    ct_ar_mm2: float
    ma_ar_mm2: float
    ct_ar_tt_ar: float
    ct_th_um: float
    ct_th_sd_um: float
    n_slices: int

    def to_dict(self) -> dict[str, float]:
        """The figures as a JSON-ready dict."""
        return asdict(self)


def cortical_geometry(
    cortex: np.ndarray, voxel_um: float, *, subvoxel: bool = True
) -> CorticalGeometry:
    """Cortical areas and thickness of a bone shaft.

    Parameters
    ----------
    cortex : (nz, ny, nx) ndarray of bool
        Cortical bone, the shaft running along z (e.g. from
        :func:`analysis.segmentation.separate_compartments`).
    voxel_um : float
        Isotropic voxel size (µm).
    subvoxel : bool
        Ct.Th with the sub-voxel local thickness (default) or the exact digital one.

    Returns
    -------
    CorticalGeometry

    Raises
    ------
    ValueError
        If ``cortex`` is not 3-D, holds no bone, or ``voxel_um`` is not positive.
    """
    cortex = np.asarray(cortex, dtype=bool)
    if cortex.ndim != 3:
        raise ValueError(f"cortex must be a 3-D array [z, y, x], got shape {cortex.shape}")
    if not np.isfinite(voxel_um) or voxel_um <= 0:
        raise ValueError(f"voxel_um must be a positive number of micrometres, got {voxel_um!r}")
    bone_per_slice = cortex.sum(axis=(1, 2))
    slices = np.flatnonzero(bone_per_slice)
    if slices.size == 0:
        raise ValueError("cortex holds no bone")
    pixel_mm2 = (voxel_um * 1e-3) ** 2
    total = np.array(
        [np.count_nonzero(ndimage.binary_fill_holes(cortex[k])) for k in slices], dtype=float
    )
    bone = bone_per_slice[slices].astype(float)
    tt_ar = float(total.mean()) * pixel_mm2
    ct_ar = float(bone.mean()) * pixel_mm2
    stats = thickness_stats(local_thickness(cortex, subvoxel=subvoxel), voxel_um)
    return CorticalGeometry(
        tt_ar_mm2=tt_ar,
        ct_ar_mm2=ct_ar,
        ma_ar_mm2=tt_ar - ct_ar,
        ct_ar_tt_ar=ct_ar / tt_ar,
        ct_th_um=stats.mean_um,
        ct_th_sd_um=stats.sd_um,
        n_slices=int(slices.size),
    )

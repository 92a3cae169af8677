"""Static bone morphometry of segmented micro-CT volumes (Django-free).

Model-independent 3-D parameters after Bouxsein et al. (JBMR 2010;25:1468), in
physical units, on numpy arrays indexed ``[z, y, x]`` with isotropic voxels.

Modules
-------
edt
    Exact squared Euclidean distance transform (numba).
thickness
    Local thickness (Hildebrand & Rüegsegger): Tb.Th, Tb.Sp, Ct.Th and their maps.
surface
    Bone surface by marching cubes; its normal derivative for SMI.
connectivity
    Euler characteristic and Conn.D with the Odgaard–Gundersen edge correction.
anisotropy
    Mean intercept length, fabric tensor, DA.
cortical
    Tt.Ar, Ct.Ar, Ma.Ar, Ct.Ar/Tt.Ar, Ct.Th.
density
    BMD and TMD of a calibrated volume.
panel
    The whole trabecular panel in one call.
"""

from .anisotropy import DIRECTIONS, Fabric, fabric_tensor
from .connectivity import connectivity_density, euler_characteristic, euler_delta
from .cortical import CorticalGeometry, cortical_geometry
from .density import mineral_density
from .edt import squared_edt
from .panel import StaticMorphometry, static_morphometry
from .surface import surface_area, surface_area_derivative
from .thickness import ThicknessStats, local_thickness, thickness_stats

__all__ = [
    "DIRECTIONS",
    "CorticalGeometry",
    "Fabric",
    "StaticMorphometry",
    "ThicknessStats",
    "connectivity_density",
    "cortical_geometry",
    "euler_characteristic",
    "euler_delta",
    "fabric_tensor",
    "local_thickness",
    "mineral_density",
    "squared_edt",
    "static_morphometry",
    "surface_area",
    "surface_area_derivative",
    "thickness_stats",
]

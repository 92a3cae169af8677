"""Matched forward projector and backprojector (the system matrix A and Aᵀ).

A voxel-driven projector: every voxel is projected onto the detector at its
centre and spread over the four nearest pixels with bilinear weights, scaled by
the path length it contributes (``voxel³ · M² / (pixel² · cos α)``, M the
magnification at the voxel, α the ray's angle to the central ray), so that
``A`` maps attenuation (1/cm) to line integrals.  The backprojector gathers
with the very same weights, so it is the exact adjoint (Aᵀ) — the property the
iterative solvers rely on (see e.g. Kak & Slaney 1988, ch. 7, on unmatched
pairs).
"""

from __future__ import annotations

import numpy as np

from .backends import get_backend
from .geometry import ConeBeamGeometry, ParallelBeamGeometry, VolumeGeometry, default_volume

__all__ = ["Projector"]

Geometry = ParallelBeamGeometry | ConeBeamGeometry


class Projector:
    """The linear operator ``A`` of an acquisition on a volume grid.

    Parameters
    ----------
    geometry : ParallelBeamGeometry or ConeBeamGeometry
    volume : VolumeGeometry, optional
        Default :func:`recon.engine.geometry.default_volume`.
    backend : {"auto", "cpu", "gpu"}

    Examples
    --------
    >>> import numpy as np
    >>> from recon.engine.geometry import ParallelBeamGeometry
    >>> A = Projector(ParallelBeamGeometry((4, 8), 1.0, np.arange(0, 180, 30)), backend="cpu")
    >>> A.forward(np.ones(A.volume.shape, np.float32)).shape
    (6, 4, 8)
    """

    def __init__(
        self,
        geometry: Geometry,
        volume: VolumeGeometry | None = None,
        backend: str = "auto",
    ) -> None:
        self.geometry = geometry
        self.volume = volume if volume is not None else default_volume(geometry)
        self.backend = get_backend(backend)
        self._kg = geometry.kernel_geometry()

    @property
    def volume_shape(self) -> tuple[int, int, int]:
        """Shape of the domain ``(nz, ny, nx)``."""
        return self.volume.shape

    @property
    def projection_shape(self) -> tuple[int, int, int]:
        """Shape of the range ``(n_angles, nrows, ncols)``."""
        return self.geometry.projection_shape

    def forward(self, volume: np.ndarray) -> np.ndarray:
        """``A x``: line integrals of a volume (1/cm), shape ``projection_shape``."""
        volume = np.asarray(volume, dtype=np.float32)
        if volume.shape != self.volume_shape:
            raise ValueError(f"volume: shape {volume.shape} != {self.volume_shape}")
        return self.backend.forward_project(volume, self._kg, self.volume)

    def adjoint(self, projections: np.ndarray) -> np.ndarray:
        """``Aᵀ y``: unfiltered backprojection, shape ``volume_shape``."""
        projections = np.asarray(projections, dtype=np.float32)
        if projections.shape != self.projection_shape:
            raise ValueError(f"projections: shape {projections.shape} != {self.projection_shape}")
        return self.backend.adjoint_backproject(projections, self._kg, self.volume)

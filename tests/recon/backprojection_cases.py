"""Filtered Shepp–Logan projections on which the backprojection kernels are compared.

Shared by the GPU tests (``test_gpu_backend.py``) and the GPU benchmark
(``bench/recon_fdk_gpu.py --variants``): a cone beam (magnification 2, 2° steps over a
full turn), the same with an offset and tilted detector, and a parallel beam (1° steps
over a half turn, filtered rows on half-column steps), all with 180 projections.
"""

from __future__ import annotations

import numpy as np

from recon.engine.backends import cpu
from recon.engine.fdk import _filter_batch, projection_weights
from recon.engine.geometry import (
    ConeBeamGeometry,
    KernelGeometry,
    ParallelBeamGeometry,
    VolumeGeometry,
    default_volume,
)

from .phantoms import project, shepp_logan_3d

CASES = ("cone", "cone, tilted", "parallel")


def case_geometry(case: str, n: int) -> ConeBeamGeometry | ParallelBeamGeometry:
    """The ``n × n`` detector geometry of one of :data:`CASES`."""
    if case == "parallel":
        return ParallelBeamGeometry((n, n), 10.0, np.arange(0.0, 180.0, 1.0))
    if case not in CASES:
        raise ValueError(f"case: expected one of {CASES}, got {case!r}")
    tilt = {"offset_u_um": 33.0, "detector_tilt_deg": 1.5} if case == "cone, tilted" else {}
    return ConeBeamGeometry(
        (n, n), 20.0, np.arange(0.0, 360.0, 2.0), sod_um=3000.0, sdd_um=6000.0, **tilt
    )


def filtered_case(case: str, n: int) -> tuple[np.ndarray, KernelGeometry, VolumeGeometry, int]:
    """``(filtered, kernel geometry, volume, L)``: the weighted, ramp-filtered (Ram-Lak)
    projections of the Shepp–Logan phantom, ``L`` filtered samples per detector column,
    and the default volume (``n³``)."""
    geometry = case_geometry(case, n)
    projections = project(shepp_logan_3d(0.4 * n * 10.0), geometry)
    kg = geometry.kernel_geometry()
    upsampling = cpu.column_upsampling_for(kg)
    weights = projection_weights(geometry)
    filtered = _filter_batch(projections, geometry, weights, "ram-lak", None, upsampling)
    return filtered, kg, default_volume(geometry), upsampling


def backproject(
    backend, filtered, kg: KernelGeometry, volume: VolumeGeometry, upsampling: int, **options
) -> np.ndarray:
    """One backend's backprojection as a ``(y, x, z)`` numpy array (the CPU accumulator's
    order); ``options`` (``variant``, ``z_per_thread``) go to the GPU's
    ``backproject_layout``."""
    if backend.name == "cpu":
        return backend.backproject_fdk(filtered, kg, volume, column_upsampling=upsampling)
    acc = backend.backproject_layout(
        backend.layout(filtered), kg, volume, column_upsampling=upsampling, **options
    )
    return backend.finish_volume(acc).transpose(1, 2, 0)

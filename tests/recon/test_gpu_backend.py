"""The CuPy backend agrees with the CPU backend (skipped without a CUDA GPU).

Self-contained (no conftest fixtures), so that ``bench/gpu_check.sh`` can run it
on a bare GPU machine with ``--noconftest``.
"""

import functools

import numpy as np
import pytest

from recon.engine.backends import cpu, get_backend, gpu_available
from recon.engine.backends.cuda_kernels import VARIANTS
from recon.engine.fdk import fbp, fdk
from recon.engine.geometry import (
    ConeBeamGeometry,
    VolumeGeometry,
    default_volume,
)
from recon.engine.iterative import cgls
from recon.engine.projector import Projector

from .backprojection_cases import CASES, backproject, case_geometry, filtered_case
from .phantoms import project, shepp_logan_3d

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a CUDA GPU"),
]

N = 48


def _geometry(**kwargs) -> ConeBeamGeometry:
    return ConeBeamGeometry(
        (N, N), 20.0, np.arange(0.0, 360.0, 2.0), sod_um=3000.0, sdd_um=6000.0, **kwargs
    )


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def test_auto_picks_the_gpu():
    assert get_backend("auto").name == "gpu"


@pytest.mark.parametrize(
    "kwargs", [{}, {"offset_u_um": 33.0, "detector_tilt_deg": 1.5}, {"offset_u_um": -280.0}]
)
def test_fdk_gpu_matches_cpu(kwargs):
    geometry = _geometry(**kwargs)
    projections = project(shepp_logan_3d(0.4 * N * 10.0), geometry)
    cpu = fdk(projections, geometry, backend="cpu")
    gpu = fdk(projections, geometry, backend="gpu", angle_batch=50)
    assert gpu.dtype == np.float32 and gpu.shape == cpu.shape
    assert _rel(gpu, cpu) < 1e-3
    assert np.abs(gpu - cpu).max() < 1e-3 * np.abs(cpu).max()


@pytest.mark.parametrize("z", [slice(0, N), slice(20, 24)])  # 3-D and thin-slab kernels
def test_fbp_parallel_gpu_matches_cpu(z):
    """Parallel beam reads filtered rows on half-column steps on both backends."""
    geometry = case_geometry("parallel", N)
    projections = project(shepp_logan_3d(0.4 * N * 10.0), geometry)
    volume = default_volume(geometry).sub_grid(z=z)
    cpu = fbp(projections, geometry, volume, backend="cpu")
    gpu = fbp(projections, geometry, volume, backend="gpu", angle_batch=50)
    assert _rel(gpu, cpu) < 1e-3


def test_region_of_interest_on_gpu():
    geometry = _geometry()
    projections = project(shepp_logan_3d(0.4 * N * 10.0), geometry)
    roi = default_volume(geometry).sub_grid(z=slice(5, 40), y=slice(3, 30), x=slice(10, 47))
    assert (
        _rel(
            fdk(projections, geometry, roi, backend="gpu"),
            fdk(projections, geometry, roi, backend="cpu"),
        )
        < 1e-3
    )


def test_projector_pair_gpu_matches_cpu_and_is_adjoint():
    geometry = _geometry(detector_tilt_deg=0.7).with_angles(np.arange(0.0, 360.0, 10.0))
    volume = VolumeGeometry((16, 40, 40), 10.0)
    a_cpu = Projector(geometry, volume, backend="cpu")
    a_gpu = Projector(geometry, volume, backend="gpu")
    rng = np.random.default_rng(1)
    x = rng.random(volume.shape).astype(np.float32)
    y = rng.random(geometry.projection_shape).astype(np.float32)
    fx = a_gpu.forward(x)
    aty = a_gpu.adjoint(y)
    assert _rel(fx, a_cpu.forward(x)) < 1e-3
    assert _rel(aty, a_cpu.adjoint(y)) < 1e-3
    lhs = float(np.vdot(fx.astype(np.float64), y))
    rhs = float(np.vdot(x.astype(np.float64), aty))
    assert lhs == pytest.approx(rhs, rel=1e-4)


def test_cgls_on_gpu_matches_cpu():
    geometry = _geometry().with_angles(np.arange(0.0, 360.0, 12.0))
    volume = VolumeGeometry((8, 32, 32), 10.0)
    b = project(shepp_logan_3d(150.0), geometry)
    cpu = cgls(Projector(geometry, volume, backend="cpu"), b, 8)
    gpu = cgls(Projector(geometry, volume, backend="gpu"), b, 8)
    assert _rel(gpu.volume, cpu.volume) < 1e-3
    np.testing.assert_allclose(gpu.residuals, cpu.residuals, rtol=1e-3)


@functools.cache
def _filtered_case(case: str):
    """:func:`backprojection_cases.filtered_case` at 48³ (shared, read only)."""
    return filtered_case(case, N)


@functools.cache
def _cpu_backprojection(case: str) -> np.ndarray:
    return backproject(cpu, *_filtered_case(case))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("z_per_thread", [8, 16])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_backprojection_variant_agrees_with_the_cpu_within_its_tolerance(
    variant, z_per_thread, case
):
    filtered, kg, volume, upsampling = _filtered_case(case)
    reference = _cpu_backprojection(case)
    result = backproject(
        get_backend("gpu"),
        filtered,
        kg,
        volume,
        upsampling,
        variant=variant,
        z_per_thread=z_per_thread,
    )
    error = np.abs(result - reference).max() / np.abs(reference).max()
    assert error < VARIANTS[variant].tolerance


@pytest.mark.parametrize("case", CASES)
def test_the_fast_variant_is_the_exact_one_to_float_rounding(case):
    """Float coefficients move positions by ≤ 2e-4 pixel: values agree to 1e-4."""
    gpu = get_backend("gpu")
    filtered, kg, volume, upsampling = _filtered_case(case)
    exact = backproject(gpu, filtered, kg, volume, upsampling, variant="exact")
    fast = backproject(gpu, filtered, kg, volume, upsampling, variant="fast")
    assert np.abs(fast - exact).max() < 1e-4 * np.abs(exact).max()


def test_the_default_variant_is_fast_and_unknown_ones_are_refused():
    gpu = get_backend("gpu")
    assert gpu.DEFAULT_VARIANT == "fast"
    filtered, kg, volume, upsampling = _filtered_case("cone")
    with pytest.raises(ValueError, match="variant"):
        backproject(gpu, filtered, kg, volume, upsampling, variant="textures")

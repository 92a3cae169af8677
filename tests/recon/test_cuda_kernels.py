"""The GPU backend's CUDA source compiles with NVRTC, and its host-side tables are right,
checked without a GPU.

NVRTC (``nvidia-cuda-nvrtc-cu12`` through ``cuda-bindings``, test requirements) compiles
for a virtual architecture with no device and no driver, so an error in the kernels'
source shows on every run of the suite, not only on a machine with a GPU, where
``test_gpu_backend.py`` then checks the numbers.  The per-angle coefficients of the fast
backprojection and the 2x upsampling of the texture variant are plain numpy, checked
here against the CPU backend's double-precision mapping and analytic values; and the
non-texture backprojection kernels' own source, compiled as C++ with a few lines standing
in for CUDA and run one thread at a time, is checked against the CPU backend (skipped
where no C++ compiler is installed).
"""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from dataclasses import replace

import numpy as np
import pytest

from recon.engine.backends import cpu
from recon.engine.backends.cpu import PAD
from recon.engine.backends.cuda_kernels import (
    MAX_Z_PER_THREAD,
    SOURCE,
    VARIANTS,
    Z_PER_THREAD,
    compile_options,
    fast_coefficients,
    upsample_layout_2x,
)
from recon.engine.geometry import (
    ConeBeamGeometry,
    ParallelBeamGeometry,
    VolumeGeometry,
    default_volume,
)

try:
    from cuda.bindings import nvrtc
except ImportError:  # a test requirement; without it only the NVRTC tests skip
    nvrtc = None

needs_nvrtc = pytest.mark.skipif(nvrtc is None, reason="needs cuda-bindings' NVRTC")

ARCHITECTURE = "--gpu-architecture=compute_70"
"""The oldest architecture the backend is meant for (Volta); newer ones compile the same."""

KERNELS = ("backproject_fdk", "backproject_fdk_fast", "forward_splat", "adjoint_gather")


def compile_ptx(source: str, options: tuple[str, ...]) -> tuple[bool, str, str]:
    """``(compiled, log, ptx)`` of ``source`` under ``options``."""
    err, program = nvrtc.nvrtcCreateProgram(source.encode(), b"kernels.cu", 0, [], [])
    assert err == nvrtc.nvrtcResult.NVRTC_SUCCESS, err
    try:
        flags = [o.encode() for o in (*options, ARCHITECTURE)]
        (err,) = nvrtc.nvrtcCompileProgram(program, len(flags), flags)
        _, size = nvrtc.nvrtcGetProgramLogSize(program)
        log = b" " * size
        nvrtc.nvrtcGetProgramLog(program, log)
        ptx = ""
        if err == nvrtc.nvrtcResult.NVRTC_SUCCESS:
            _, size = nvrtc.nvrtcGetPTXSize(program)
            buffer = b" " * size
            nvrtc.nvrtcGetPTX(program, buffer)
            ptx = buffer.decode(errors="replace")
        return err == nvrtc.nvrtcResult.NVRTC_SUCCESS, log.decode(errors="replace"), ptx
    finally:
        nvrtc.nvrtcDestroyProgram(program)


@needs_nvrtc
@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("z_per_thread", [1, Z_PER_THREAD, MAX_Z_PER_THREAD])
def test_every_variant_compiles_and_exports_its_kernels(z_per_thread, variant):
    spec = VARIANTS[variant]
    options = compile_options(z_per_thread, spec.texture, spec.texture_upsample)
    compiled, log, ptx = compile_ptx(SOURCE, options)
    assert compiled, log
    entries = set(re.findall(r"\.entry\s+(\w+)", ptx))
    assert entries == set(KERNELS)  # extern "C": the names the launcher looks up
    assert spec.kernel in entries
    if spec.texture:  # the backprojection kernels fetch through the texture units
        assert "tex.a2d" in ptx


def _entry(ptx: str, name: str) -> str:
    """The PTX body of one kernel."""
    body = ptx[ptx.index(f".entry {name}(") :]
    return body[: body.index("\n}\n")]


@needs_nvrtc
@pytest.mark.parametrize("kernel", ["backproject_fdk", "backproject_fdk_fast"])
def test_the_texture_build_scales_its_coordinates_by_the_upsampling(kernel):
    """With ``TEX_UPSAMPLE=2`` each fetch's two coordinates gain a factor 2 (0f40000000)."""
    one = compile_ptx(SOURCE, compile_options(8, texture=True, texture_upsample=1))[2]
    two = compile_ptx(SOURCE, compile_options(8, texture=True, texture_upsample=2))[2]
    twos = [_entry(ptx, kernel).count("0f40000000") for ptx in (one, two)]
    assert twos[1] >= twos[0] + 8  # at least one per fetch (ZPER = 8 fetches)


@pytest.mark.parametrize("arguments", [(0,), (MAX_Z_PER_THREAD + 1,), (8, False, 2), (8, True, 3)])
def test_builds_outside_the_supported_range_are_refused(arguments):
    with pytest.raises(ValueError):
        compile_options(*arguments)


def test_the_source_pads_like_the_cpu_backend():
    assert f"#define PAD {PAD}\n" in SOURCE


@needs_nvrtc
def test_an_error_in_the_source_is_caught():
    broken = SOURCE.replace("g.col_step = gp[10];", "g.col_steps = gp[10];")
    assert broken != SOURCE
    compiled, log, _ = compile_ptx(broken, compile_options())
    assert not compiled
    assert "col_steps" in log


# -- the fast variant's per-angle coefficients --------------------------------------


def _fma(a, b, c) -> np.ndarray:
    """CUDA's ``fmaf`` on float32 operands: the product is exact in float64, one rounding."""
    return (np.float64(a) * np.float64(b) + np.float64(c)).astype(np.float32)


def fast_mapping(row: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """``backproject_fdk_fast``'s float32 arithmetic: ``(cb, dc, rb, dr, w)`` at ``(x, y)``."""
    ex, ey, cx, cy, c0, rx, ry, r0, dcol, drow, col0, row0 = row
    x = np.float32(x)
    y = np.float32(y)
    u = (1.0 / np.float64(_fma(ex, x, _fma(ey, y, np.float32(1.0))))).astype(np.float32)
    cb = _fma(u, _fma(cx, x, _fma(cy, y, c0)), col0)
    rb = _fma(u, _fma(rx, x, _fma(ry, y, r0)), row0)
    return cb, u * dcol, rb, u * drow, u * u


GEOMETRIES = {
    "cone, tilted, offset": (
        ConeBeamGeometry(
            (96, 128),
            20.0,
            np.arange(0.0, 360.0, 7.0),
            sod_um=3000.0,
            sdd_um=6000.0,
            offset_u_um=33.0,
            offset_v_um=-21.0,
            detector_tilt_deg=1.5,
        ),
        1,
    ),
    "cone, 2000 columns": (
        ConeBeamGeometry(
            (512, 2000),
            10.0,
            np.arange(0.0, 360.0, 7.0),
            sod_um=30_000.0,
            sdd_um=120_000.0,
            offset_u_um=-280.0,
        ),
        1,
    ),
    "parallel, half columns, tilted": (
        ParallelBeamGeometry(
            (64, 96), 10.0, np.arange(0.0, 180.0, 3.0), offset_u_um=12.0, detector_tilt_deg=-0.8
        ),
        2,
    ),
}


@pytest.mark.parametrize("name", sorted(GEOMETRIES))
def test_fast_coefficients_give_the_cpu_mapping_at_random_voxels(name):
    """On the detector, within 1e-4 pixel of the double-precision mapping (2e-4 at 2000
    columns, where a float32 ulp is 1.2e-4)."""
    geometry, upsampling = GEOMETRIES[name]
    kg = geometry.kernel_geometry()
    volume = default_volume(geometry)
    z0, dz = float(volume.z_um()[0]), volume.voxel_um
    table = fast_coefficients(kg, z0, dz, upsampling)
    assert table.dtype == np.float32 and table.shape == (kg.cos.size, 12)
    g = cpu._scalars(kg, upsampling)
    half = 0.5 * volume.shape[2] * volume.voxel_um
    rng = np.random.default_rng(7)
    tolerance = 1e-4 if kg.ncols <= 512 else 2e-4  # float32 ulp: 1.2e-4 at 2000
    worst = 0.0
    checked = 0
    while checked < 400:
        a = int(rng.integers(kg.cos.size))
        x, y = (float(v) for v in rng.uniform(-half, half, 2))
        cb, dc, rb, dr, m, _ = cpu._column_map(x, y, kg.cos[a], kg.sin[a], z0, dz, g)
        if not 1.0 <= cb <= upsampling * kg.ncols + 2 * PAD - 2.0:
            continue  # off the detector: the kernels add nothing there
        checked += 1
        fcb, fdc, frb, fdr, w = fast_mapping(table[a], x, y)
        weight = (m * kg.sod_um / kg.sdd_um) ** 2 if kg.cone else 1.0
        assert abs(fcb - cb) < tolerance and abs(frb - rb) < tolerance
        assert fdc == pytest.approx(dc, rel=1e-6, abs=1e-9)
        assert fdr == pytest.approx(dr, rel=1e-6)
        assert w == pytest.approx(weight, rel=1e-6)
        worst = max(worst, abs(fcb - cb), abs(frb - rb))
    assert worst > 0.0  # float32 rounding is there: the check is not vacuous


def test_fast_coefficients_of_parallel_beam_have_no_magnification():
    geometry, upsampling = GEOMETRIES["parallel, half columns, tilted"]
    table = fast_coefficients(geometry.kernel_geometry(), -300.0, 10.0, upsampling)
    assert np.all(table[:, :2] == 0.0)  # u = 1 / (1 + 0) = 1 exactly: weight 1


def _emulate_fast_backprojection(proj_t, kg, volume, upsampling) -> np.ndarray:
    """The fast kernel's per-voxel mask and bilinear lookup in numpy, (ny, nx, nz)."""
    nz, ny, nx = volume.shape
    table = fast_coefficients(kg, float(volume.z_um()[0]), volume.voxel_um, upsampling)
    y, x = np.meshgrid(volume.y_um(), volume.x_um(), indexing="ij")
    k = np.arange(nz, dtype=np.float32)
    upper_c, upper_r = proj_t.shape[1] - 2.0, proj_t.shape[2] - 2.0
    out = np.zeros((ny, nx, nz), dtype=np.float32)
    for a in range(kg.cos.size):
        cb, dc, rb, dr, w = fast_mapping(table[a], x[..., None], y[..., None])
        cc = _fma(dc, k, cb)
        r = _fma(dr, k, rb)
        inside = (cc >= 1.0) & (cc <= upper_c) & (r >= 1.0) & (r <= upper_r)
        cc = np.where(inside, cc, 1.0)
        r = np.where(inside, r, 1.0)
        ic, ir = cc.astype(np.int64), r.astype(np.int64)
        fc, fr = cc - ic, r - ir
        p = proj_t[a]
        lo = p[ic, ir] + fc * (p[ic + 1, ir] - p[ic, ir])
        hi = p[ic, ir + 1] + fc * (p[ic + 1, ir + 1] - p[ic, ir + 1])
        out += np.where(inside, w * (lo + fr * (hi - lo)), 0.0).astype(np.float32)
    return out


@pytest.mark.parametrize(
    ("name", "voxel_um"), [("cone, tilted, offset", 40.0), ("parallel, half columns, tilted", 25.0)]
)
def test_the_fast_kernels_arithmetic_reproduces_the_cpu_backprojection(name, voxel_um):
    """Masking voxel by voxel instead of clipping k-ranges changes nothing but rounding.

    The grid reaches past the detector's field of view (a third of its voxels see no
    ray), so the mask is exercised at every edge.
    """
    geometry, upsampling = GEOMETRIES[name]
    kg = geometry.kernel_geometry()
    volume = VolumeGeometry((40, 30, 30), voxel_um)
    rng = np.random.default_rng(3)
    filtered = rng.standard_normal((kg.cos.size, kg.nrows, upsampling * kg.ncols), dtype=np.float32)
    reference = cpu.backproject_fdk(filtered, kg, volume, column_upsampling=upsampling)
    emulated = _emulate_fast_backprojection(cpu.to_kernel_layout(filtered), kg, volume, upsampling)
    assert np.mean(reference == 0.0) > 0.25  # voxels outside every projection
    assert np.abs(emulated - reference).max() < 1e-4 * np.abs(reference).max()  # 1.3e-5 seen


# -- the texture variant's 2x upsampling ----------------------------------------------


def _bilinear(p: np.ndarray, c: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of a 2-D array at fractional indices (float64)."""
    ic, ir = np.floor(c).astype(int), np.floor(r).astype(int)
    fc, fr = c - ic, r - ir
    ic1, ir1 = np.minimum(ic + 1, p.shape[0] - 1), np.minimum(ir + 1, p.shape[1] - 1)
    lo = (1 - fc) * p[ic, ir] + fc * p[ic1, ir]
    hi = (1 - fc) * p[ic, ir1] + fc * p[ic1, ir1]
    return (1 - fr) * lo + fr * hi


def test_the_2x_upsample_of_a_bilinear_function_samples_it_at_half_steps():
    c, r = np.meshgrid(np.arange(5.0), np.arange(7.0), indexing="ij")
    f = lambda c, r: 3.0 + 0.5 * c - 2.0 * r + 0.25 * c * r  # noqa: E731 (bilinear in c, r)
    proj = np.stack([f(c, r), -f(c, r)]).astype(np.float32)
    out = upsample_layout_2x(proj, np.full((2, 9, 13), np.nan, dtype=np.float32))
    c2, r2 = np.meshgrid(np.arange(9.0) / 2, np.arange(13.0) / 2, indexing="ij")
    np.testing.assert_allclose(out[0], f(c2, r2), rtol=0, atol=1e-6)
    np.testing.assert_allclose(out[1], -f(c2, r2), rtol=0, atol=1e-6)


def test_bilinear_on_the_2x_upsample_equals_bilinear_on_the_original():
    rng = np.random.default_rng(5)
    proj = cpu.to_kernel_layout(rng.standard_normal((3, 20, 30), dtype=np.float32))
    n, pc, pr = proj.shape
    out = upsample_layout_2x(proj, np.empty((n, 2 * pc - 1, 2 * pr - 1), dtype=np.float32))
    c = rng.uniform(1.0, pc - 2.0, 500)
    r = rng.uniform(1.0, pr - 2.0, 500)
    for a in range(n):
        original = _bilinear(proj[a].astype(np.float64), c, r)
        upsampled = _bilinear(out[a].astype(np.float64), 2 * c, 2 * r)
        np.testing.assert_allclose(upsampled, original, rtol=0, atol=2e-6)


def test_the_2x_upsample_refuses_an_output_of_the_wrong_shape():
    proj = np.zeros((2, 6, 8), dtype=np.float32)
    with pytest.raises(ValueError, match="out"):
        upsample_layout_2x(proj, np.zeros((2, 12, 16), dtype=np.float32))


# -- the kernels' own source, run on the CPU thread by thread -------------------------

CPU_PRELUDE = r"""
// Just enough of CUDA to run the non-texture kernels one thread at a time on the CPU.
#include <cmath>
#include <cstddef>
using std::size_t;
#define __global__
#define __device__
#define __forceinline__ inline
struct dim3 { unsigned x, y, z; };
static dim3 blockIdx, threadIdx, blockDim;
struct float4 { float x, y, z, w; };
template <class T> static inline T __ldg(const T* p) { return *p; }
static inline float __frcp_rn(float v) { return 1.0f / v; }
static inline float atomicAdd(float* p, float v) { float old = *p; *p += v; return old; }
"""

CPU_LAUNCHERS = r"""
#define EACH_THREAD(call)                                                        \
    for (unsigned bz = 0; bz < g[2]; ++bz)                                       \
    for (unsigned by = 0; by < g[1]; ++by)                                       \
    for (unsigned bx = 0; bx < g[0]; ++bx)                                       \
    for (unsigned ty = 0; ty < b[1]; ++ty)                                       \
    for (unsigned tx = 0; tx < b[0]; ++tx) {                                     \
        blockIdx = {bx, by, bz}; threadIdx = {tx, ty, 0}; blockDim = {b[0], b[1], 1}; \
        call;                                                                    \
    }
extern "C" void run_exact(const unsigned* g, const unsigned* b, const float* proj,
                          const double* cosv, const double* sinv, const double* xs,
                          const double* ys, double z0, double dz, int nz, int nx, int ny,
                          int n, int pc, int pr, const double* gp, float* out) {
    EACH_THREAD(backproject_fdk(proj, cosv, sinv, xs, ys, z0, dz, nz, nx, ny, n, pc, pr, gp, out))
}
extern "C" void run_fast(const unsigned* g, const unsigned* b, const float* proj,
                         const float* coef, const float* xs, const float* ys, int nz, int nx,
                         int ny, int n, int pc, int pr, float* out) {
    EACH_THREAD(backproject_fdk_fast(proj, (const float4*)coef, xs, ys, nz, nx, ny, n, pc, pr, out))
}
"""

CPU_Z_PER_THREAD = MAX_Z_PER_THREAD
CPU_BLOCK = (32, 4)
"""``gpu._BP_BLOCK``: 32 threads along z, 4 along x."""


@pytest.fixture(scope="module")
def kernels_on_cpu(tmp_path_factory):
    """The non-texture build of :data:`SOURCE`, compiled by the host's C++ compiler."""
    compiler = shutil.which("c++") or shutil.which("g++")
    if compiler is None:
        pytest.skip("needs a C++ compiler to run the CUDA source on the CPU")
    folder = tmp_path_factory.mktemp("kernels_on_cpu")
    (folder / "kernels.cpp").write_text(CPU_PRELUDE + SOURCE + CPU_LAUNCHERS)
    library = folder / "kernels.so"
    subprocess.run(
        [compiler, "-O1", "-ffp-contract=off", "-shared", "-fPIC", "-std=c++14"]
        + [f"-DZPER={CPU_Z_PER_THREAD}", "-o", str(library), str(folder / "kernels.cpp")],
        check=True,
        capture_output=True,
    )
    return ctypes.CDLL(str(library))


def _run_on_cpu(kernels, variant, proj_t, kg, volume, upsampling) -> np.ndarray:
    """``gpu.backproject_layout`` of one non-texture variant, threads run in turn."""
    nz, ny, nx = volume.shape
    out = np.zeros((ny, nx, nz), dtype=np.float32)
    per_block = CPU_BLOCK[0] * CPU_Z_PER_THREAD
    grid = np.array([-(-nz // per_block), -(-nx // CPU_BLOCK[1]), ny], dtype=np.uint32)
    block = np.array(CPU_BLOCK, dtype=np.uint32)
    _, pc, pr = proj_t.shape
    z0 = float(volume.z_um()[0])
    keep = []  # arrays passed by pointer stay alive through the call

    def ptr(array, dtype):
        keep.append(np.ascontiguousarray(array, dtype=dtype))
        return keep[-1].ctypes.data_as(ctypes.c_void_p)

    head = (ptr(grid, np.uint32), ptr(block, np.uint32), ptr(proj_t, np.float32))
    sizes = [ctypes.c_int(v) for v in (nz, nx, ny, kg.cos.size, pc, pr)]
    if variant == "exact":
        g = cpu._scalars(kg, upsampling)
        kernels.run_exact(
            *head,
            ptr(kg.cos, np.float64),
            ptr(kg.sin, np.float64),
            ptr(volume.x_um(), np.float64),
            ptr(volume.y_um(), np.float64),
            ctypes.c_double(z0),
            ctypes.c_double(volume.voxel_um),
            *sizes,
            ptr(np.array(g, dtype=np.float64), np.float64),
            out.ctypes.data_as(ctypes.c_void_p),
        )
    else:
        table = fast_coefficients(kg, z0, volume.voxel_um, upsampling)
        kernels.run_fast(
            *head,
            ptr(table, np.float32),
            ptr(volume.x_um(), np.float32),
            ptr(volume.y_um(), np.float32),
            *sizes,
            out.ctypes.data_as(ctypes.c_void_p),
        )
    return out


@pytest.mark.parametrize("variant", ["exact", "fast"])
@pytest.mark.parametrize(
    ("name", "voxel_um"),
    [
        ("cone, tilted, offset", 40.0),
        ("cone, untilted", 40.0),
        ("parallel, half columns, tilted", 25.0),
    ],
)
def test_the_kernel_source_run_on_the_cpu_matches_the_cpu_backend(
    kernels_on_cpu, variant, name, voxel_um
):
    """The CUDA source itself (non-texture builds), one thread at a time: the tilted and
    untilted branches, the z tail of each thread and the detector mask, to rounding."""
    if name == "cone, untilted":
        geometry, upsampling = GEOMETRIES["cone, tilted, offset"]
        geometry = replace(geometry, detector_tilt_deg=0.0)
    else:
        geometry, upsampling = GEOMETRIES[name]
    kg = geometry.kernel_geometry()
    volume = VolumeGeometry((40, 30, 30), voxel_um)  # past the field of view; 40 % 32 != 0
    rng = np.random.default_rng(11)
    filtered = rng.standard_normal((kg.cos.size, kg.nrows, upsampling * kg.ncols), dtype=np.float32)
    reference = cpu.backproject_fdk(filtered, kg, volume, column_upsampling=upsampling)
    result = _run_on_cpu(
        kernels_on_cpu, variant, cpu.to_kernel_layout(filtered), kg, volume, upsampling
    )
    assert np.mean(reference == 0.0) > 0.25
    assert np.abs(result - reference).max() < 2e-5 * np.abs(reference).max()

"""CUDA backend through CuPy ``RawKernel``s (compiled at run time by NVRTC).

The kernels mirror :mod:`.cpu` one to one — the same hoisted column mapping,
the same zero-padded transposed projection layout ``[angle, col, row]`` and the
same bilinear weights — so the two backends agree to rounding.  CuPy compiles
for the device it finds (no pinned architecture, no compiler toolchain on the
user's machine).  This module imports CuPy at import time; it is only imported
by :func:`recon.engine.backends.get_backend` when a device is present.
"""

from __future__ import annotations

import functools

import cupy as cp
import numpy as np

from ..geometry import KernelGeometry, VolumeGeometry
from .cpu import PAD, _matched_scale

name = "gpu"

_COMMON = r"""
#define PAD 2
struct Geo {
    int cone; double sod, sdd, pixel, off_u, off_v, ct, st, col_c, row_c;
};

__device__ inline Geo make_geo(const double* gp) {
    Geo g;
    g.cone = (int)gp[0]; g.sod = gp[1]; g.sdd = gp[2]; g.pixel = gp[3]; g.off_u = gp[4];
    g.off_v = gp[5]; g.ct = gp[6]; g.st = gp[7]; g.col_c = gp[8]; g.row_c = gp[9];
    return g;
}

__device__ inline void column_map(double x, double y, double c, double s, double z0, double dz,
                                  const Geo g, double* cb, double* dc, double* rb, double* dr,
                                  double* m, double* xr) {
    *xr = x * c + y * s;
    double yr = -x * s + y * c;
    *m = g.cone ? g.sdd / (g.sod + yr) : 1.0;
    double a = *xr * *m;
    double bm = z0 * *m;
    *cb = (a * g.ct + bm * g.st - g.off_u) / g.pixel + g.col_c + PAD;
    *rb = (-a * g.st + bm * g.ct - g.off_v) / g.pixel + g.row_c + PAD;
    *dc = *m * g.st * dz / g.pixel;
    *dr = *m * g.ct * dz / g.pixel;
}

__device__ inline void k_range(double base, double d, int nz, double upper, int* lo, int* hi) {
    *lo = 0; *hi = nz;
    if (fabs(d) < 1e-12) {
        if (base < 1.0 || base > upper) { *hi = 0; }
        return;
    }
    double a = (1.0 - base) / d, b = (upper - base) / d;
    if (a > b) { double t = a; a = b; b = t; }
    int ka = (int)ceil(a), kb = (int)floor(b) + 1;
    if (ka > *lo) *lo = ka;
    if (kb < *hi) *hi = kb;
}

__device__ inline double matched_weight(double m, double xr, double z, const Geo g, double scale) {
    if (g.cone) {
        double inv_cos = sqrt(g.sdd * g.sdd + m * m * (xr * xr + z * z)) / g.sdd;
        return scale * m * m * inv_cos;
    }
    return scale;
}
"""

_SOURCE = (
    _COMMON
    + r"""
// Compiled twice: plain (four loads and the bilinear weights in registers) and with
// -DTEXTURE (one hardware-filtered fetch from a layered texture: layer = angle,
// x = padded row, y = padded column, texel centres at +0.5).
#ifdef TEXTURE
#define SOURCE_T cudaTextureObject_t
#else
#define SOURCE_T const float* __restrict__
#endif
extern "C" __global__ void backproject_fdk(
    SOURCE_T proj, const double* __restrict__ cosv,
    const double* __restrict__ sinv, const double* __restrict__ xs, const double* __restrict__ ys,
    double z0, double dz, int nz, int nx, int ny, int n_angles, int pc, int pr,
    const double* __restrict__ gp, float* __restrict__ out) {
    // Threads of a warp walk along z: they read consecutive rows of one detector
    // column (layout [angle, col, row]) and write consecutive voxels ([y, x, z]).
    const int k_first = blockIdx.x * (blockDim.x * ZPER) + threadIdx.x;
    const int i = blockIdx.y * blockDim.y + threadIdx.y;
    const int j = blockIdx.z;
    if (i >= nx || j >= ny) return;
    const Geo g = make_geo(gp);
    const double x = xs[i], y = ys[j];
    const double upper_c = pc - 2.0, upper_r = pr - 2.0;
    float acc[ZPER];
    for (int t = 0; t < ZPER; ++t) acc[t] = 0.0f;
    for (int a = 0; a < n_angles; ++a) {
        double cb, dc, rb, dr, m, xr;
        column_map(x, y, cosv[a], sinv[a], z0, dz, g, &cb, &dc, &rb, &dr, &m, &xr);
        float w = 1.0f;
        if (g.cone) { double u = m * g.sod / g.sdd; w = (float)(u * u); }
        int k0, k1, k2, k3;
        k_range(cb, dc, nz, upper_c, &k0, &k1);
        k_range(rb, dr, nz, upper_r, &k2, &k3);
        if (k2 > k0) k0 = k2;
        if (k3 < k1) k1 = k3;
        const float cbf = (float)cb, dcf = (float)dc, rbf = (float)rb, drf = (float)dr;
#ifndef TEXTURE
        const float* p = proj + (size_t)a * pc * pr;
#endif
        #pragma unroll
        for (int t = 0; t < ZPER; ++t) {
            const int k = k_first + t * blockDim.x;
            if (k < k0 || k >= k1) continue;
            const float cc = cbf + dcf * k, r = rbf + drf * k;
#ifdef TEXTURE
            acc[t] += w * tex2DLayered<float>(proj, r + 0.5f, cc + 0.5f, a);
#else
            const int ic = (int)cc, ir = (int)r;
            const float fc = cc - ic, fr = r - ir;
            const float* q0 = p + (size_t)ic * pr + ir;
            const float* q1 = q0 + pr;
            const float lo = (1.0f - fc) * __ldg(q0) + fc * __ldg(q1);
            const float hi = (1.0f - fc) * __ldg(q0 + 1) + fc * __ldg(q1 + 1);
            acc[t] += w * (lo + fr * (hi - lo));
#endif
        }
    }
    #pragma unroll
    for (int t = 0; t < ZPER; ++t) {
        const int k = k_first + t * blockDim.x;
        if (k < nz) out[((size_t)j * nx + i) * nz + k] += acc[t];
    }
}

extern "C" __global__ void forward_splat(
    const float* __restrict__ vol, const double* __restrict__ cosv,
    const double* __restrict__ sinv, const double* __restrict__ xs, const double* __restrict__ ys,
    double z0, double dz, int nz, int nx, int ny, int n_angles, int pc, int pr, const double* __restrict__ gp,
    double scale, float* __restrict__ proj) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int j = blockIdx.y * blockDim.y + threadIdx.y;
    int a = blockIdx.z;
    if (i >= nx || j >= ny || a >= n_angles) return;
    const Geo g = make_geo(gp);
    double cb, dc, rb, dr, m, xr;
    column_map(xs[i], ys[j], cosv[a], sinv[a], z0, dz, g, &cb, &dc, &rb, &dr, &m, &xr);
    int k0, k1, k2, k3;
    k_range(cb, dc, nz, pc - 2.0, &k0, &k1);
    k_range(rb, dr, nz, pr - 2.0, &k2, &k3);
    if (k2 > k0) k0 = k2;
    if (k3 < k1) k1 = k3;
    float* p = proj + (size_t)a * pc * pr;
    const float* v = vol + ((size_t)j * nx + i) * nz;
    for (int k = k0; k < k1; ++k) {
        double val = v[k] * matched_weight(m, xr, z0 + dz * k, g, scale);
        double cc = cb + dc * k, r = rb + dr * k;
        int ic = (int)cc, ir = (int)r;
        double fc = cc - ic, fr = r - ir;
        atomicAdd(p + (size_t)ic * pr + ir, (float)(val * (1 - fc) * (1 - fr)));
        atomicAdd(p + (size_t)(ic + 1) * pr + ir, (float)(val * fc * (1 - fr)));
        atomicAdd(p + (size_t)ic * pr + ir + 1, (float)(val * (1 - fc) * fr));
        atomicAdd(p + (size_t)(ic + 1) * pr + ir + 1, (float)(val * fc * fr));
    }
}

extern "C" __global__ void adjoint_gather(
    const float* __restrict__ proj, const double* __restrict__ cosv,
    const double* __restrict__ sinv, const double* __restrict__ xs, const double* __restrict__ ys,
    double z0, double dz, int nz, int nx, int ny, int n_angles, int pc, int pr, const double* __restrict__ gp,
    double scale, float* __restrict__ out) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int j = blockIdx.y * blockDim.y + threadIdx.y;
    int k = blockIdx.z;
    if (i >= nx || j >= ny || k >= nz) return;
    const Geo g = make_geo(gp);
    double acc = 0.0;
    for (int a = 0; a < n_angles; ++a) {
        double cb, dc, rb, dr, m, xr;
        column_map(xs[i], ys[j], cosv[a], sinv[a], z0, dz, g, &cb, &dc, &rb, &dr, &m, &xr);
        int k0, k1, k2, k3;
        k_range(cb, dc, nz, pc - 2.0, &k0, &k1);
        k_range(rb, dr, nz, pr - 2.0, &k2, &k3);
        if (k2 > k0) k0 = k2;
        if (k3 < k1) k1 = k3;
        if (k < k0 || k >= k1) continue;
        const float* p = proj + (size_t)a * pc * pr;
        double cc = cb + dc * k, r = rb + dr * k;
        int ic = (int)cc, ir = (int)r;
        double fc = cc - ic, fr = r - ir;
        double s = p[(size_t)ic * pr + ir] * (1 - fc) * (1 - fr)
                 + p[(size_t)(ic + 1) * pr + ir] * fc * (1 - fr)
                 + p[(size_t)ic * pr + ir + 1] * (1 - fc) * fr
                 + p[(size_t)(ic + 1) * pr + ir + 1] * fc * fr;
        acc += s * matched_weight(m, xr, z0 + dz * k, g, scale);
    }
    out[((size_t)j * nx + i) * nz + k] = (float)acc;
}
"""
)

_BLOCK = (16, 8, 1)
_BP_BLOCK = (32, 4, 1)
Z_PER_THREAD = 8
"""Voxels along z each backprojection thread accumulates: the per-angle column mapping
(double precision, two range clips) is paid once for this many bilinear lookups."""


@functools.cache
def _compiled(z_per_thread: int, texture: bool = False) -> cp.RawModule:
    """The kernels, compiled by NVRTC for the present device (cached per variant)."""
    options = ("--std=c++14", f"-DZPER={int(z_per_thread)}", *(("-DTEXTURE",) if texture else ()))
    return cp.RawModule(code=_SOURCE, options=options)


_module = _compiled(Z_PER_THREAD)

_MAX_LAYERS = 2048
"""Layers (angles) of one layered 2-D texture (the CUDA limit on current devices)."""
_CUDA_ARRAY_LAYERED = 0x01
"""``cudaArrayLayered`` (CuPy's runtime module does not name this flag)."""


def backproject_layout_texture(
    proj: cp.ndarray,
    kg: KernelGeometry,
    volume: VolumeGeometry,
    accumulator: cp.ndarray | None = None,
    *,
    z_per_thread: int = Z_PER_THREAD,
) -> cp.ndarray:
    """:func:`backproject_layout` with the texture units doing the bilinear interpolation.

    One fetch per voxel update instead of four loads, but the hardware's interpolation
    weights have 8 fractional bits (an error of up to 1/512 of the step between two
    neighbouring detector values per lookup).  Measured on an H200 at 512³ × 720:
    340 G voxel-updates/s against 175 for the exact kernel, 1.4e-4 relative difference
    on a smooth sphere, but 1.4–1.6e-3 on the sharp 48³ Shepp–Logan phantom — outside
    the 1e-3 CPU/GPU agreement the engine promises, so :func:`backproject_fdk` keeps the
    exact kernel and this variant is measured by ``bench/recon_fdk_gpu.py`` only.
    """
    from cupy.cuda import runtime, texture

    nz, ny, nx = volume.shape
    if accumulator is None:
        accumulator = new_accumulator(volume)
    n_angles, pc, pr = proj.shape
    kernel = _compiled(z_per_thread, texture=True).get_function("backproject_fdk")
    channel = texture.ChannelFormatDescriptor(32, 0, 0, 0, runtime.cudaChannelFormatKindFloat)
    sampling = texture.TextureDescriptor(
        (runtime.cudaAddressModeBorder,) * 3,
        runtime.cudaFilterModeLinear,
        runtime.cudaReadModeElementType,
    )
    per_block = _BP_BLOCK[0] * z_per_thread
    grid = (-(-nz // per_block), -(-nx // _BP_BLOCK[1]), ny)
    geo = _geo(kg)
    for a0 in range(0, n_angles, _MAX_LAYERS):
        part = cp.ascontiguousarray(proj[a0 : a0 + _MAX_LAYERS])
        layers = texture.CUDAarray(channel, pr, pc, len(part), _CUDA_ARRAY_LAYERED)
        layers.copy_from(part)
        tex = texture.TextureObject(
            texture.ResourceDescriptor(runtime.cudaResourceTypeArray, cuArr=layers), sampling
        )
        sub = kg._replace(cos=kg.cos[a0 : a0 + len(part)], sin=kg.sin[a0 : a0 + len(part)])
        args = _common(sub, volume)
        kernel(grid, _BP_BLOCK, (tex, *args, np.int32(pc), np.int32(pr), geo, accumulator))
    return accumulator


def _geo(kg: KernelGeometry) -> cp.ndarray:
    values = (
        float(kg.cone),
        kg.sod_um,
        kg.sdd_um,
        kg.pixel_um,
        kg.offset_u_um,
        kg.offset_v_um,
        kg.cos_tilt,
        kg.sin_tilt,
        kg.col_centre,
        kg.row_centre,
    )
    return cp.asarray(np.array(values, dtype=np.float64))


def layout(projections) -> cp.ndarray:
    """``[angle, row, col]`` (numpy or CuPy) → padded ``[angle, col + 2·PAD, row + 2·PAD]``."""
    n, r, c = projections.shape
    out = cp.zeros((n, c + 2 * PAD, r + 2 * PAD), dtype=cp.float32)
    out[:, PAD : PAD + c, PAD : PAD + r] = cp.asarray(projections, dtype=cp.float32).transpose(
        0, 2, 1
    )
    return out


def _common(kg: KernelGeometry, volume: VolumeGeometry) -> tuple:
    nz, ny, nx = volume.shape
    z0 = float(volume.z_um()[0])
    return (
        cp.asarray(kg.cos),
        cp.asarray(kg.sin),
        cp.asarray(volume.x_um()),
        cp.asarray(volume.y_um()),
        np.float64(z0),
        np.float64(volume.voxel_um),
        np.int32(nz),
        np.int32(nx),
        np.int32(ny),
        np.int32(kg.cos.size),
    )


def _grid(nx: int, ny: int, nz: int) -> tuple[int, int, int]:
    return (-(-nx // _BLOCK[0]), -(-ny // _BLOCK[1]), nz)


def weight_and_filter(
    rows: np.ndarray,
    weights: np.ndarray,
    cos_weight: np.ndarray | None,
    response: np.ndarray,
    n_pad: int,
) -> cp.ndarray:
    """Weight and ramp-filter detector rows on the GPU (cuFFT), result left on the device.

    Parameters
    ----------
    rows : ndarray, shape (n_angles, nrows, ncols), float32
    weights : ndarray, shape (n_angles, ncols)
        Quadrature and redundancy weights.
    cos_weight : ndarray, shape (nrows, ncols), or None
        Cone-beam cosine weights.
    response : ndarray, shape (n_pad // 2 + 1,)
        Filter response (:func:`recon.engine.filters.ramp_filter`).
    n_pad : int
        FFT length.

    Returns
    -------
    cupy.ndarray, shape (n_angles, nrows, ncols), float32
    """
    p = cp.asarray(rows, dtype=cp.float32)
    p *= cp.asarray(weights, dtype=cp.float32)[:, None, :]
    if cos_weight is not None:
        p *= cp.asarray(cos_weight, dtype=cp.float32)[None]
    spectrum = cp.fft.rfft(p, n=n_pad, axis=-1)
    del p
    spectrum *= cp.asarray(response, dtype=cp.float32)
    out = cp.fft.irfft(spectrum, n=n_pad, axis=-1)
    return cp.ascontiguousarray(out[..., : rows.shape[-1]], dtype=cp.float32)


def new_accumulator(volume: VolumeGeometry) -> cp.ndarray:
    """Zeroed device accumulator, shape (ny, nx, nz), float32."""
    nz, ny, nx = volume.shape
    return cp.zeros((ny, nx, nz), dtype=cp.float32)


def finish_volume(accumulator: cp.ndarray) -> np.ndarray:
    """The ``[z, y, x]`` numpy volume of a device accumulator."""
    return cp.asnumpy(cp.ascontiguousarray(accumulator.transpose(2, 0, 1)))


def backproject_fdk(
    filtered,
    kg: KernelGeometry,
    volume: VolumeGeometry,
    accumulator: cp.ndarray | None = None,
) -> cp.ndarray:
    """GPU version of :func:`recon.engine.backends.cpu.backproject_fdk`.

    ``filtered`` may be a numpy or a CuPy array; the accumulator stays on the device.
    """
    return backproject_layout(layout(filtered), kg, volume, accumulator)


def backproject_layout(
    proj: cp.ndarray,
    kg: KernelGeometry,
    volume: VolumeGeometry,
    accumulator: cp.ndarray | None = None,
    *,
    z_per_thread: int = Z_PER_THREAD,
) -> cp.ndarray:
    """Run the backprojection kernel on projections already in the padded layout.

    Parameters
    ----------
    proj : cupy.ndarray, shape (n_angles, ncols + 2·PAD, nrows + 2·PAD), float32
    kg : KernelGeometry
    volume : VolumeGeometry
    accumulator : cupy.ndarray, shape (ny, nx, nz), optional
    z_per_thread : int
        Voxels along z per thread (a tuning knob; the result does not depend on it).

    Returns
    -------
    cupy.ndarray, shape (ny, nx, nz), float32
    """
    nz, ny, nx = volume.shape
    if accumulator is None:
        accumulator = new_accumulator(volume)
    args = _common(kg, volume)
    per_block = _BP_BLOCK[0] * z_per_thread
    grid = (-(-nz // per_block), -(-nx // _BP_BLOCK[1]), ny)
    _compiled(z_per_thread).get_function("backproject_fdk")(
        grid,
        _BP_BLOCK,
        (proj, *args, np.int32(proj.shape[1]), np.int32(proj.shape[2]), _geo(kg), accumulator),
    )
    return accumulator


def forward_project(vol: np.ndarray, kg: KernelGeometry, volume: VolumeGeometry) -> np.ndarray:
    """GPU version of :func:`recon.engine.backends.cpu.forward_project`."""
    nz, ny, nx = volume.shape
    v = cp.ascontiguousarray(cp.asarray(vol, dtype=cp.float32).transpose(1, 2, 0))
    proj = cp.zeros((kg.cos.size, kg.ncols + 2 * PAD, kg.nrows + 2 * PAD), dtype=cp.float32)
    args = _common(kg, volume)
    _module.get_function("forward_splat")(
        _grid(nx, ny, kg.cos.size),
        _BLOCK,
        (
            v,
            *args,
            np.int32(proj.shape[1]),
            np.int32(proj.shape[2]),
            _geo(kg),
            np.float64(_matched_scale(volume, kg)),
            proj,
        ),
    )
    return cp.asnumpy(proj[:, PAD:-PAD, PAD:-PAD].transpose(0, 2, 1))


def adjoint_backproject(proj: np.ndarray, kg: KernelGeometry, volume: VolumeGeometry) -> np.ndarray:
    """GPU version of :func:`recon.engine.backends.cpu.adjoint_backproject`."""
    nz, ny, nx = volume.shape
    p = layout(np.asarray(proj, dtype=np.float32))
    out = cp.zeros((ny, nx, nz), dtype=cp.float32)
    args = _common(kg, volume)
    _module.get_function("adjoint_gather")(
        _grid(nx, ny, nz),
        _BLOCK,
        (
            p,
            *args,
            np.int32(p.shape[1]),
            np.int32(p.shape[2]),
            _geo(kg),
            np.float64(_matched_scale(volume, kg)),
            out,
        ),
    )
    return cp.asnumpy(out.transpose(2, 0, 1))


def synchronize() -> None:
    """Wait for the device to finish queued work (for timing)."""
    cp.cuda.get_current_stream().synchronize()

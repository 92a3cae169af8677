"""CUDA C source of the GPU backend's kernels, how NVRTC compiles it, and the host-side
tables the kernels read.

Plain strings and numpy, free of CuPy, so that the source can be compiled (and the
tables checked) where no GPU is present: :mod:`.gpu` launches the kernels through CuPy;
the test suite compiles them with NVRTC alone and runs the non-texture backprojections
on the CPU, compiled as C++ (``tests/recon/test_cuda_kernels.py``).
The kernels mirror :mod:`.cpu` (the same column mapping, padded transposed layout and
bilinear weights).  The FDK backprojection comes in the builds of :data:`VARIANTS`:
``exact`` evaluates the CPU's double-precision mapping per thread and angle, ``fast``
reads it as float coefficients precomputed per angle (:func:`fast_coefficients`), and
the texture builds let the texture units interpolate, optionally on a 2x upsampled
stack (:func:`upsample_layout_2x`).
"""

from __future__ import annotations

from typing import NamedTuple, TypeVar

import numpy as np

from ..geometry import KernelGeometry
from .cpu import PAD

__all__ = [
    "MAX_Z_PER_THREAD",
    "SOURCE",
    "VARIANTS",
    "Z_PER_THREAD",
    "Variant",
    "compile_options",
    "fast_coefficients",
    "upsample_layout_2x",
]

Array = TypeVar("Array")
"""A numpy or a CuPy array (the host-side helpers use only slicing and arithmetic)."""

_COMMON = (
    f"#define PAD {PAD}\n"
    + r"""
struct Geo {
    int cone; double sod, sdd, pixel, off_u, off_v, ct, st, col_c, row_c, col_step;
};

__device__ inline Geo make_geo(const double* gp) {
    Geo g;
    g.cone = (int)gp[0]; g.sod = gp[1]; g.sdd = gp[2]; g.pixel = gp[3]; g.off_u = gp[4];
    g.off_v = gp[5]; g.ct = gp[6]; g.st = gp[7]; g.col_c = gp[8]; g.row_c = gp[9];
    g.col_step = gp[10];
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
    *cb = ((a * g.ct + bm * g.st - g.off_u) / g.pixel + g.col_c) * g.col_step + PAD;
    *rb = (-a * g.st + bm * g.ct - g.off_v) / g.pixel + g.row_c + PAD;
    *dc = *m * g.st * dz / g.pixel * g.col_step;
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

// The k-range [k0, k1) of a voxel column whose column and row indices are
// cb + dc·k and rb + dr·k, clipped to the padded pc × pr detector.
__device__ inline void clip_to_detector(double cb, double dc, double rb, double dr, int nz,
                                        int pc, int pr, int* k0, int* k1) {
    int r0, r1;
    k_range(cb, dc, nz, pc - 2.0, k0, k1);
    k_range(rb, dr, nz, pr - 2.0, &r0, &r1);
    if (r0 > *k0) *k0 = r0;
    if (r1 < *k1) *k1 = r1;
}

__device__ inline double matched_weight(double m, double xr, double z, const Geo g, double scale) {
    if (g.cone) {
        double inv_cos = sqrt(g.sdd * g.sdd + m * m * (xr * xr + z * z)) / g.sdd;
        return scale * m * m * inv_cos;
    }
    return scale;
}
"""
)

SOURCE = (
    _COMMON
    + r"""
// Compiled plain (four loads and the bilinear weights in registers) or with -DTEXTURE
// (one hardware-filtered fetch from a layered texture: layer = angle, x = padded row,
// y = padded column, texel centres at +0.5).  -DTEX_UPSAMPLE=2: the texture holds the
// padded projections upsampled 2x along both axes (upsample_layout_2x), so a padded
// index i is texel 2i.
#ifdef TEXTURE
#define SOURCE_T cudaTextureObject_t
#else
#define SOURCE_T const float* __restrict__
#endif
#ifndef TEX_UPSAMPLE
#define TEX_UPSAMPLE 1
#endif

// One bilinear lookup of angle a at padded (column, row) cc, r: four loads, or one
// texture fetch.
#ifdef TEXTURE
__device__ __forceinline__ float lookup(cudaTextureObject_t proj, int a, int pc, int pr,
                                        float cc, float r) {
    return tex2DLayered<float>(proj, TEX_UPSAMPLE * r + 0.5f, TEX_UPSAMPLE * cc + 0.5f, a);
}
#else
// Bilinear at row r between the detector columns q0 and q1 (pointers to their row 0),
// fc of the way from q0 to q1.
__device__ __forceinline__ float between_columns(const float* __restrict__ q0,
                                                 const float* __restrict__ q1, float fc,
                                                 float r) {
    const int ir = (int)r;
    const float fr = r - ir;
    const float v00 = __ldg(q0 + ir), v01 = __ldg(q0 + ir + 1);
    const float lo = fmaf(fc, __ldg(q1 + ir) - v00, v00);
    const float hi = fmaf(fc, __ldg(q1 + ir + 1) - v01, v01);
    return fmaf(fr, hi - lo, lo);
}

__device__ __forceinline__ float lookup(const float* __restrict__ proj, int a, int pc, int pr,
                                        float cc, float r) {
    const int ic = (int)cc;
    const float* q0 = proj + (size_t)a * pc * pr + ic * pr;  // < 2^31 samples per angle
    return between_columns(q0, q0 + pr, cc - ic, r);
}
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
    float acc[ZPER];
    for (int t = 0; t < ZPER; ++t) acc[t] = 0.0f;
    for (int a = 0; a < n_angles; ++a) {
        double cb, dc, rb, dr, m, xr;
        column_map(x, y, cosv[a], sinv[a], z0, dz, g, &cb, &dc, &rb, &dr, &m, &xr);
        float w = 1.0f;
        if (g.cone) { double u = m * g.sod / g.sdd; w = (float)(u * u); }
        int k0, k1;
        clip_to_detector(cb, dc, rb, dr, nz, pc, pr, &k0, &k1);
        const float cbf = (float)cb, dcf = (float)dc, rbf = (float)rb, drf = (float)dr;
        #pragma unroll
        for (int t = 0; t < ZPER; ++t) {
            const int k = k_first + t * blockDim.x;
            if (k < k0 || k >= k1) continue;
            acc[t] += w * lookup(proj, a, pc, pr, cbf + dcf * k, rbf + drf * k);
        }
    }
    #pragma unroll
    for (int t = 0; t < ZPER; ++t) {
        const int k = k_first + t * blockDim.x;
        if (k < nz) out[((size_t)j * nx + i) * nz + k] += acc[t];
    }
}

// backproject_fdk with the per-angle mapping precomputed on the host as float
// coefficients (fast_coefficients: three float4 per angle, g0 = (ex, ey, cx, cy),
// g1 = (c0, rx, ry, r0), g2 = (dcol, drow, col0, row0)).  Per thread and angle: two
// FMAs and one reciprocal for u = 1 / (1 + ex·x + ey·y), four FMAs for the column and
// row bases, two products for their steps along z.  No range clip: each voxel tests
// its own position against the padded detector (1 <= index <= n - 2, the clip of
// k_range) and adds nothing outside it.
extern "C" __global__ void backproject_fdk_fast(
    SOURCE_T proj, const float4* __restrict__ coef, const float* __restrict__ xs,
    const float* __restrict__ ys, int nz, int nx, int ny, int n_angles, int pc, int pr,
    float* __restrict__ out) {
    const int k_first = blockIdx.x * (blockDim.x * ZPER) + threadIdx.x;
    const int i = blockIdx.y * blockDim.y + threadIdx.y;
    const int j = blockIdx.z;
    if (i >= nx || j >= ny) return;
    const float x = xs[i], y = ys[j];
    const float upper_c = pc - 2.0f, upper_r = pr - 2.0f;
    float acc[ZPER], kf[ZPER];
    #pragma unroll
    for (int t = 0; t < ZPER; ++t) {
        acc[t] = 0.0f;
        kf[t] = (float)(k_first + t * (int)blockDim.x);
    }
    for (int a = 0; a < n_angles; ++a) {
        const float4 g0 = __ldg(coef + 3 * a), g1 = __ldg(coef + 3 * a + 1),
                     g2 = __ldg(coef + 3 * a + 2);
        const float u = __frcp_rn(fmaf(g0.x, x, fmaf(g0.y, y, 1.0f)));
        const float cb = fmaf(u, fmaf(g0.z, x, fmaf(g0.w, y, g1.x)), g2.z);
        const float rb = fmaf(u, fmaf(g1.y, x, fmaf(g1.z, y, g1.w)), g2.w);
        const float dc = u * g2.x, dr = u * g2.y, w = u * u;
        if (g2.x == 0.0f) {
            // Untilted detector (the same branch for every thread): the voxel column
            // stays on one detector column, tested once; the ZPER lookups share its
            // index and weight.  fmaf(0, k, cb) == cb: the same sums as below.
            if (!(cb >= 1.0f && cb <= upper_c)) continue;
#ifndef TEXTURE
            const int ic = (int)cb;
            const float fc = cb - ic;
            const float* q0 = proj + (size_t)a * pc * pr + ic * pr;
            const float* q1 = q0 + pr;
#endif
            #pragma unroll
            for (int t = 0; t < ZPER; ++t) {
                const float r = fmaf(dr, kf[t], rb);
                if (k_first + t * (int)blockDim.x >= nz || !(r >= 1.0f && r <= upper_r)) continue;
#ifdef TEXTURE
                acc[t] = fmaf(w, lookup(proj, a, pc, pr, cb, r), acc[t]);
#else
                acc[t] = fmaf(w, between_columns(q0, q1, fc, r), acc[t]);
#endif
            }
        } else {
            #pragma unroll
            for (int t = 0; t < ZPER; ++t) {
                const float cc = fmaf(dc, kf[t], cb), r = fmaf(dr, kf[t], rb);
                if (k_first + t * (int)blockDim.x >= nz ||
                    !(cc >= 1.0f && cc <= upper_c && r >= 1.0f && r <= upper_r)) continue;
                acc[t] = fmaf(w, lookup(proj, a, pc, pr, cc, r), acc[t]);
            }
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
    int k0, k1;
    clip_to_detector(cb, dc, rb, dr, nz, pc, pr, &k0, &k1);
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
        int k0, k1;
        clip_to_detector(cb, dc, rb, dr, nz, pc, pr, &k0, &k1);
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


Z_PER_THREAD = 8
"""Voxels along z each backprojection thread accumulates: the per-angle set-up (the
column mapping and its range clips) is paid once for this many bilinear lookups."""

MAX_Z_PER_THREAD = 16
"""The most voxels per thread the backprojection kernels are built for (registers)."""


class Variant(NamedTuple):
    """One build of the FDK backprojection kernel.

    Attributes
    ----------
    kernel : str
        Entry point in :data:`SOURCE`.
    texture : bool
        Bilinear interpolation by the texture units (8-bit weights) instead of four loads.
    texture_upsample : int
        Texels per padded detector sample along both axes (1 or 2; textures only).
    tolerance : float
        The agreement with the CPU backend this variant is held to:
        ``max |gpu - cpu| / max |cpu|`` on the sharp Shepp–Logan phantom.
    """

    kernel: str
    texture: bool
    texture_upsample: int
    tolerance: float


VARIANTS: dict[str, Variant] = {
    # The CPU's double-precision mapping and k-range clip per thread and angle.
    "exact": Variant("backproject_fdk", False, 1, 1e-3),
    # Float coefficients from fast_coefficients(): positions within ~1e-4 pixel of
    # "exact" (the float32 floor both share), so it differs from it by < 1e-4 relative.
    "fast": Variant("backproject_fdk_fast", False, 1, 1e-3),
    # Hardware bilinear weights (1/256 steps): 1.4–1.6e-3 measured on an H200 at 48³.
    "texture": Variant("backproject_fdk", True, 1, 3e-3),
    # The same weights on a 2x bilinear upsample: the interpolant is unchanged and the
    # weight error halves (0.4–0.5e-3 predicted by a CPU emulation; 1.8–6.5e-4 measured
    # on an H100), but it runs at 117–186 G voxel-updates/s against "fast"'s 468.
    "texture2x": Variant("backproject_fdk_fast", True, 2, 1e-3),
}
"""The backprojection variants by name (``gpu.backproject_layout(variant=...)``)."""


def compile_options(
    z_per_thread: int = Z_PER_THREAD, texture: bool = False, texture_upsample: int = 1
) -> tuple[str, ...]:
    """NVRTC options of one build of :data:`SOURCE`.

    ``z_per_thread`` voxels along z per backprojection thread (1 to
    :data:`MAX_Z_PER_THREAD`); with ``texture`` the backprojection kernels read a
    layered texture (hardware bilinear filtering) holding ``texture_upsample`` texels
    per padded detector sample along both axes.
    """
    if not 1 <= int(z_per_thread) <= MAX_Z_PER_THREAD:
        raise ValueError(f"z_per_thread: expected 1 to {MAX_Z_PER_THREAD}, got {z_per_thread}")
    if int(texture_upsample) not in (1, 2) or (texture_upsample != 1 and not texture):
        raise ValueError(
            f"texture_upsample: 1, or 2 with texture=True; got {texture_upsample} "
            f"(texture={texture})"
        )
    options = ["--std=c++14", f"-DZPER={int(z_per_thread)}"]
    if texture:
        options += ["-DTEXTURE", f"-DTEX_UPSAMPLE={int(texture_upsample)}"]
    return tuple(options)


def fast_coefficients(
    kg: KernelGeometry, z0_um: float, dz_um: float, column_upsampling: int = 1
) -> np.ndarray:
    """Per-angle float coefficients of the detector mapping ``backproject_fdk_fast`` reads.

    At angle ``a`` the voxel column at ``(x, y)`` (µm) with ``z = z0 + k·dz`` maps to the
    padded indices ``col = cb + dc·k`` and ``row = rb + dr·k`` of the kernel layout, with

    ``u = 1 / (1 + ex·x + ey·y)`` (``sod / (sod + y')``; 1 for parallel beam),
    ``cb = col0 + u·(c0 + cx·x + cy·y)``, ``rb = row0 + u·(r0 + rx·x + ry·y)``,
    ``dc = u·dcol``, ``dr = u·drow`` and the FDK distance weight ``u²`` — the mapping of
    :func:`recon.engine.backends.cpu._column_map` rewritten with ``m = u·sdd/sod``, so
    that the division and everything fixed per angle leave the kernel.

    Expected error: the table is computed in double and rounded to float32 once;
    evaluated in float32 (five FMAs, one correctly rounded reciprocal) the indices lie
    within about 1.5 float32 ulps of the double mapping, where the exact kernel, which
    rounds its double result to float32, lies within 0.5 ulp: ≤ 2e-5 pixel below 256
    columns, ≤ 1e-4 up to 1024 and ≤ 2e-4 at 2000 (measured 1.7e-4), against the 1/256
    pixel the bilinear weights resolve.  The backprojected values then differ from the
    exact kernel's by that times the local gradient: < 1e-4 relative.

    Parameters
    ----------
    kg : KernelGeometry
        Geometry of the angles to backproject.
    z0_um, dz_um : float
        z of the first voxel and the voxel pitch along z, µm.
    column_upsampling : int
        Stored samples per detector column (the ``col_step`` of the exact kernel).

    Returns
    -------
    ndarray, shape (n_angles, 12), float32
        Rows ``(ex, ey, cx, cy, c0, rx, ry, r0, dcol, drow, col0, row0)``: three
        float4 per angle (units: 1/µm for ex, ey; padded indices per µm for cx, cy,
        rx, ry; padded indices for the rest).
    """
    c = np.asarray(kg.cos, dtype=np.float64)
    s = np.asarray(kg.sin, dtype=np.float64)
    ct, st = float(kg.cos_tilt), float(kg.sin_tilt)
    magnification = kg.sdd_um / kg.sod_um if kg.cone else 1.0
    per_col = magnification * column_upsampling / kg.pixel_um  # stored columns per µm
    per_row = magnification / kg.pixel_um
    inv_sod = 1.0 / kg.sod_um if kg.cone else 0.0
    table = np.empty((c.size, 12), dtype=np.float64)
    table[:, 0] = -s * inv_sod
    table[:, 1] = c * inv_sod
    table[:, 2] = per_col * ct * c
    table[:, 3] = per_col * ct * s
    table[:, 4] = per_col * st * z0_um
    table[:, 5] = -per_row * st * c
    table[:, 6] = -per_row * st * s
    table[:, 7] = per_row * ct * z0_um
    table[:, 8] = per_col * st * dz_um
    table[:, 9] = per_row * ct * dz_um
    table[:, 10] = (kg.col_centre - kg.offset_u_um / kg.pixel_um) * column_upsampling + PAD
    table[:, 11] = kg.row_centre - kg.offset_v_um / kg.pixel_um + PAD
    return table.astype(np.float32)


def upsample_layout_2x(proj: Array, out: Array) -> Array:
    """Bilinear 2x upsample of a padded projection stack, written into ``out``.

    ``out[a, 2i, 2j] = proj[a, i, j]`` and the samples between are the means of their
    two or four neighbours, so bilinear interpolation of ``out`` at ``(2c, 2r)`` equals
    bilinear interpolation of ``proj`` at ``(c, r)`` (a bilinear function restricted to
    a quarter cell is the bilinear interpolant of its corners): the texture's 8-bit
    weights then err by half as much in units of ``proj``'s samples.  Works on numpy and
    CuPy arrays alike (slicing and arithmetic only).

    Parameters
    ----------
    proj : array, shape (n, pc, pr), float32
        Kernel layout ``[angle, padded col, padded row]``.
    out : array, shape (n, 2·pc - 1, 2·pr - 1), float32
        Same array library as ``proj``; overwritten.

    Returns
    -------
    array
        ``out``.
    """
    n, pc, pr = proj.shape
    if tuple(out.shape) != (n, 2 * pc - 1, 2 * pr - 1):
        raise ValueError(f"out: shape {tuple(out.shape)}, expected {(n, 2 * pc - 1, 2 * pr - 1)}")
    out[:, ::2, ::2] = proj
    out[:, 1::2, ::2] = 0.5 * (proj[:, :-1, :] + proj[:, 1:, :])
    out[:, :, 1::2] = 0.5 * (out[:, :, :-2:2] + out[:, :, 2::2])
    return out

"""CUDA C source of the GPU backend's kernels, and how NVRTC compiles it.

Plain strings, free of CuPy, so that the source can be compiled (and checked) where no
GPU is present: :mod:`.gpu` launches the kernels through CuPy; the test suite compiles
them with NVRTC alone (``tests/recon/test_cuda_kernels.py``).  The kernels mirror
:mod:`.cpu` one to one (the same hoisted column mapping, padded transposed layout and
bilinear weights).
"""

from __future__ import annotations

__all__ = ["SOURCE", "Z_PER_THREAD", "compile_options"]

_COMMON = r"""
#define PAD 2
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

__device__ inline double matched_weight(double m, double xr, double z, const Geo g, double scale) {
    if (g.cone) {
        double inv_cos = sqrt(g.sdd * g.sdd + m * m * (xr * xr + z * z)) / g.sdd;
        return scale * m * m * inv_cos;
    }
    return scale;
}
"""

SOURCE = (
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


Z_PER_THREAD = 8
"""Voxels along z each backprojection thread accumulates: the per-angle column mapping
(double precision, two range clips) is paid once for this many bilinear lookups."""


def compile_options(z_per_thread: int = Z_PER_THREAD, texture: bool = False) -> tuple[str, ...]:
    """NVRTC options of one variant of :data:`SOURCE`.

    ``z_per_thread`` voxels along z per backprojection thread; with ``texture`` the
    backprojection reads a layered texture (hardware bilinear filtering).
    """
    return ("--std=c++14", f"-DZPER={int(z_per_thread)}", *(("-DTEXTURE",) if texture else ()))

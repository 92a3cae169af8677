"""Multi-threaded CPU backend: numba kernels for backprojection and projection.

All kernels share one voxel-driven mapping (see :mod:`recon.engine.geometry`): at
angle ``θ`` a voxel ``(x, y, z)`` falls on detector column and row

``col = col_base(x, y) + dcol(x, y) * k`` and ``row = row_base(x, y) + drow(x, y) * k``

for ``z = z0 + k * dz`` — in circular geometry the magnification, the in-plane
detector coordinate and the distance weight depend only on ``(x, y)``, so they are
hoisted out of the z loop (the loop over a voxel column is a strided walk along
one detector column).  The detector is read by bilinear interpolation from a
zero-padded, transposed projection stack ``[angle, col + 2·PAD, row + 2·PAD]`` so
that the inner loop reads contiguous memory and needs no bounds tests: the range
of ``k`` that lands on the detector is solved for beforehand.  The filtered rows
may hold ``L`` samples per detector column (:func:`column_upsampling_for`); the
column index is then scaled by ``L``.

The matched pair :func:`forward_project` / :func:`adjoint_backproject` uses the
same mapping and the same bilinear weights, scattering in one and gathering in
the other, so that ``<A x, y> = <x, Aᵀ y>`` holds to rounding.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from ..geometry import KernelGeometry, VolumeGeometry

PAD = 2
"""Zero pixels added on each side of the detector in the kernels' layout."""

name = "cpu"

PARALLEL_COLUMN_UPSAMPLING = 2
"""Filtered samples per detector column for parallel beam (see :func:`column_upsampling_for`)."""


def column_upsampling_for(kg: KernelGeometry) -> int:
    """Filtered samples per detector column this backend asks the filter stage for.

    The kernels interpolate linearly between stored samples; on a grid twice as fine,
    band-limited by the filter stage (:func:`recon.engine.filters.apply_ramp_filter`),
    that interpolation attenuates the Nyquist frequency by 0.81 instead of 0.41
    (transfer ``sinc²(f / L)``, ``f`` in cycles per column).  On the 512² Shepp–Logan
    FBP of ``bench/recon_fbp2d_peers.py`` the RMSE drops by a fifth (below ASTRA's) at
    the same cost, so parallel beam gets :data:`PARALLEL_COLUMN_UPSAMPLING`.  Cone beam
    keeps the detector's own sampling: its 3-D kernel loses cache reuse on rows twice as
    long (≈ 14 % more CPU time at 192³ × 360), which the 1 G updates/s goal cannot
    spare, and the GPU backend reads the same one-column grid.  Data point-sampled
    across sharp edges (aliased) come out sharper with the finer grid but keep more of
    their aliasing, which the coarser interpolation blurs away.
    """
    return 1 if kg.cone else PARALLEL_COLUMN_UPSAMPLING


def check_filtered_columns(filtered, kg: KernelGeometry, column_upsampling: int) -> None:
    """Refuse filtered rows that do not hold ``column_upsampling`` samples per column."""
    if filtered.shape[-1] != column_upsampling * kg.ncols:
        raise ValueError(
            f"filtered: {filtered.shape[-1]} columns, expected {column_upsampling} × "
            f"{kg.ncols} (column_upsampling × detector columns)"
        )


_UM_TO_CM = 1e-4
_THIN_SLAB = 16
"""Parallel-beam slabs up to this many slices run the row-wise kernel (2-D slices)."""


@njit(inline="always", fastmath=True, cache=True)
def _k_range(base, d, nz, upper):
    """Indices ``k`` in ``[0, nz)`` with ``1 <= base + d*k <= upper`` (padded index)."""
    lo = 0
    hi = nz
    if abs(d) < 1e-12:
        if base < 1.0 or base > upper:
            return 0, 0
        return lo, hi
    a = (1.0 - base) / d
    b = (upper - base) / d
    if a > b:
        a, b = b, a
    ka = int(math.ceil(a))
    kb = int(math.floor(b)) + 1
    if ka > lo:
        lo = ka
    if kb < hi:
        hi = kb
    return lo, hi


@njit(inline="always", fastmath=True, cache=True)
def _column_map(x, y, c, s, z0, dz, g):
    """Detector mapping of the voxel column at ``(x, y)`` for one angle.

    ``g`` = (cone, sod, sdd, pixel, off_u, off_v, cos_tilt, sin_tilt, col_c, row_c,
    col_step) with ``col_step`` stored samples per detector column (see
    :func:`backproject_fdk`).  Returns ``col_base, dcol, row_base, drow, m, xr`` with
    padded indices.
    """
    cone, sod, sdd, pixel, off_u, off_v, ct, st, col_c, row_c, col_step = g
    xr = x * c + y * s
    yr = -x * s + y * c
    m = sdd / (sod + yr) if cone else 1.0
    a = xr * m
    bm = z0 * m
    col_base = ((a * ct + bm * st - off_u) / pixel + col_c) * col_step + PAD
    row_base = (-a * st + bm * ct - off_v) / pixel + row_c + PAD
    dcol = m * st * dz / pixel * col_step
    drow = m * ct * dz / pixel
    return col_base, dcol, row_base, drow, m, xr


@njit(parallel=True, fastmath=True, cache=True)
def _backproject_fdk(proj_t, cos, sin, xs, ys, z0, dz, nz, g, angle_block, out_yxz):
    """Weighted backprojection ``out[y, x, z] += Σ_a U⁻² · p_a(col, row)``, tilted detector.

    ``U⁻² = (sod / (sod + y'))²`` for cone beam (Feldkamp 1984), 1 for parallel.
    With a tilt a voxel column walks across detector columns too; an untilted
    detector uses :func:`_backproject_untilted`.
    """
    n_angles = proj_t.shape[0]
    upper_c = proj_t.shape[1] - 2.0
    upper_r = proj_t.shape[2] - 2.0
    ny = ys.shape[0]
    nx = xs.shape[0]
    cone = g[0]
    sod = g[1]
    for j in prange(ny):
        y = ys[j]
        for a0 in range(0, n_angles, angle_block):
            a1 = min(a0 + angle_block, n_angles)
            for i in range(nx):
                x = xs[i]
                col_out = out_yxz[j, i]
                for a in range(a0, a1):
                    cb, dc, rb, dr, m, xr = _column_map(x, y, cos[a], sin[a], z0, dz, g)
                    w = np.float32(1.0)
                    if cone:
                        u = m / (g[2] / sod)
                        w = np.float32(u * u)
                    k0, k1 = _k_range(cb, dc, nz, upper_c)
                    k2, k3 = _k_range(rb, dr, nz, upper_r)
                    if k2 > k0:
                        k0 = k2
                    if k3 < k1:
                        k1 = k3
                    if k1 <= k0:
                        continue
                    p = proj_t[a]
                    # float32 inside the z loop: positions to ~1e-5 pixel (the hot loop).
                    rbf = np.float32(rb)
                    drf = np.float32(dr)
                    cbf = np.float32(cb)
                    dcf = np.float32(dc)
                    for k in range(k0, k1):
                        cc = cbf + dcf * np.float32(k)
                        r = rbf + drf * np.float32(k)
                        ic = np.int32(cc)
                        ir = np.int32(r)
                        fc = cc - np.float32(ic)
                        fr = r - np.float32(ir)
                        lo = (1 - fc) * p[ic, ir] + fc * p[ic + 1, ir]
                        hi = (1 - fc) * p[ic, ir + 1] + fc * p[ic + 1, ir + 1]
                        col_out[k] += w * (lo + fr * (hi - lo))


@njit(inline="always", fastmath=True, cache=True)
def _row_range(rb, dr, nz, upper):
    """``k`` in ``[0, nz)`` with ``1 <= rb + dr·k <= upper`` for ``dr > 0`` (padded rows)."""
    inv_dr = 1.0 / dr
    lo = (1.0 - rb) * inv_dr
    hi = (upper - rb) * inv_dr
    k0 = 0 if lo <= 0.0 else int(math.ceil(lo))
    k1 = nz if hi >= nz - 1 else int(math.floor(hi)) + 1
    if k1 < k0:
        k1 = k0
    return k0, k1


@njit(parallel=True, fastmath=True, cache=True)
def _backproject_untilted(proj_t, cos, sin, xs, ys, z0, dz, nz, g, angle_block, out_yxz):
    """:func:`_backproject_fdk` for an untilted detector, with cheaper set-up per column.

    Without tilt a voxel column stays on one detector column, so the column test
    needs no division and the row range one reciprocal; for parallel beam the
    row mapping is the same for every column.  This set-up dominates thin slabs
    and 2-D slices.
    """
    n_angles = proj_t.shape[0]
    upper_c = proj_t.shape[1] - 2.0
    upper_r = proj_t.shape[2] - 2.0
    ny = ys.shape[0]
    nx = xs.shape[0]
    cone = g[0]
    sod = g[1]
    sdd = g[2]
    inv_pixel = 1.0 / g[3]
    inv_col = g[10] * inv_pixel  # stored column samples per µm
    col0 = (g[8] - g[4] * inv_pixel) * g[10] + PAD
    row0 = g[9] + PAD - g[5] * inv_pixel
    inv_mag0 = sod / sdd
    # Parallel beam: every voxel column meets the same detector rows.
    rb_par = z0 * inv_pixel + row0
    dr_par = dz * inv_pixel
    k0_par, k1_par = _row_range(rb_par, dr_par, nz, upper_r)
    for j in prange(ny):
        y = ys[j]
        for a0 in range(0, n_angles, angle_block):
            a1 = min(a0 + angle_block, n_angles)
            for i in range(nx):
                x = xs[i]
                col_out = out_yxz[j, i]
                for a in range(a0, a1):
                    c = cos[a]
                    s = sin[a]
                    m = sdd / (sod - x * s + y * c) if cone else 1.0
                    cb = (x * c + y * s) * m * inv_col + col0
                    if cb < 1.0 or cb > upper_c:
                        continue
                    if cone:
                        rb = z0 * m * inv_pixel + row0
                        dr = m * dz * inv_pixel
                        k0, k1 = _row_range(rb, dr, nz, upper_r)
                        if k1 <= k0:
                            continue
                    else:
                        rb, dr, k0, k1 = rb_par, dr_par, k0_par, k1_par
                    u = m * inv_mag0
                    w = np.float32(u * u) if cone else np.float32(1.0)
                    p = proj_t[a]
                    ic = int(cb)
                    fc = np.float32(cb - ic)
                    w0 = w * (np.float32(1.0) - fc)
                    w1 = w * fc
                    p0 = p[ic]
                    p1 = p[ic + 1]
                    rbf = np.float32(rb)
                    drf = np.float32(dr)
                    for k in range(k0, k1):
                        r = rbf + drf * np.float32(k)
                        ir = np.int32(r)
                        fr = r - np.float32(ir)
                        lo_v = w0 * p0[ir] + w1 * p1[ir]
                        hi_v = w0 * p0[ir + 1] + w1 * p1[ir + 1]
                        col_out[k] += lo_v + fr * (hi_v - lo_v)


@njit(inline="always", fastmath=False, cache=True)
def _matched_weight(m, xr, z, g, scale):
    """Path-length weight of the voxel-driven projector (µm³ → cm, see module)."""
    if g[0]:
        sdd = g[2]
        inv_cos = math.sqrt(sdd * sdd + m * m * (xr * xr + z * z)) / sdd
        return scale * m * m * inv_cos
    return scale


@njit(parallel=True, fastmath=False, cache=True)
def _forward_splat(vol_yxz, cos, sin, xs, ys, z0, dz, g, scale, proj_t):
    """Voxel-driven projector: scatter each voxel bilinearly (one thread per angle)."""
    n_angles = proj_t.shape[0]
    upper_c = proj_t.shape[1] - 2.0
    upper_r = proj_t.shape[2] - 2.0
    ny, nx, nz = vol_yxz.shape
    for a in prange(n_angles):
        p = proj_t[a]
        for j in range(ny):
            for i in range(nx):
                cb, dc, rb, dr, m, xr = _column_map(xs[i], ys[j], cos[a], sin[a], z0, dz, g)
                k0, k1 = _k_range(cb, dc, nz, upper_c)
                k2, k3 = _k_range(rb, dr, nz, upper_r)
                k0 = max(k0, k2)
                k1 = min(k1, k3)
                for k in range(k0, k1):
                    val = vol_yxz[j, i, k] * _matched_weight(m, xr, z0 + dz * k, g, scale)
                    cc = cb + dc * k
                    r = rb + dr * k
                    ic = int(cc)
                    ir = int(r)
                    fc = cc - ic
                    fr = r - ir
                    p[ic, ir] += val * (1 - fc) * (1 - fr)
                    p[ic + 1, ir] += val * fc * (1 - fr)
                    p[ic, ir + 1] += val * (1 - fc) * fr
                    p[ic + 1, ir + 1] += val * fc * fr


@njit(parallel=True, fastmath=False, cache=True)
def _adjoint_gather(proj_t, cos, sin, xs, ys, z0, dz, g, scale, out_yxz):
    """Exact adjoint of :func:`_forward_splat` (gather with the same weights)."""
    n_angles = proj_t.shape[0]
    upper_c = proj_t.shape[1] - 2.0
    upper_r = proj_t.shape[2] - 2.0
    ny, nx, nz = out_yxz.shape
    for j in prange(ny):
        for i in range(nx):
            for a in range(n_angles):
                p = proj_t[a]
                cb, dc, rb, dr, m, xr = _column_map(xs[i], ys[j], cos[a], sin[a], z0, dz, g)
                k0, k1 = _k_range(cb, dc, nz, upper_c)
                k2, k3 = _k_range(rb, dr, nz, upper_r)
                k0 = max(k0, k2)
                k1 = min(k1, k3)
                for k in range(k0, k1):
                    cc = cb + dc * k
                    r = rb + dr * k
                    ic = int(cc)
                    ir = int(r)
                    fc = cc - ic
                    fr = r - ir
                    acc = (
                        p[ic, ir] * (1 - fc) * (1 - fr)
                        + p[ic + 1, ir] * fc * (1 - fr)
                        + p[ic, ir + 1] * (1 - fc) * fr
                        + p[ic + 1, ir + 1] * fc * fr
                    )
                    out_yxz[j, i, k] += acc * _matched_weight(m, xr, z0 + dz * k, g, scale)


@njit(parallel=True, fastmath=True, cache=True)
def _backproject_parallel_rows(proj_t, cos, sin, xs, ys, z0, dz, nz, g, out_yxz):
    """:func:`_backproject_untilted` for parallel beam and thin slabs (2-D slices).

    In parallel beam without tilt a voxel's detector row depends on z alone, so each
    slice first interpolates its sinogram between detector rows once; along a row of
    voxels (fixed y) the detector column is then linear in x, and the innermost loop is
    one multiply-add, two neighbouring loads and a lerp per voxel update — instead of a
    column set-up per voxel column that only a thick slab amortises.
    """
    n_angles = proj_t.shape[0]
    n_cols = proj_t.shape[1]
    upper_c = n_cols - 2.0
    upper_r = proj_t.shape[2] - 2.0
    ny = ys.shape[0]
    nx = xs.shape[0]
    inv_pixel = 1.0 / g[3]
    inv_col = g[10] * inv_pixel  # stored column samples per µm
    col0 = (g[8] - g[4] * inv_pixel) * g[10] + PAD
    row0 = g[9] + PAD - g[5] * inv_pixel
    k0, k1 = _row_range(z0 * inv_pixel + row0, dz * inv_pixel, nz, upper_r)
    x0 = xs[0]
    dx = xs[1] - xs[0] if nx > 1 else 0.0
    sino = np.empty((n_angles, n_cols), dtype=np.float32)
    for k in range(k0, k1):
        r = (z0 + dz * k) * inv_pixel + row0
        ir = int(r)
        fr = np.float32(r - ir)
        for a in range(n_angles):  # cheap; serial keeps one parallel region per call
            for c in range(n_cols):
                lo = proj_t[a, c, ir]
                sino[a, c] = lo + fr * (proj_t[a, c, ir + 1] - lo)
        for j in prange(ny):
            y = ys[j]
            for a in range(n_angles):
                cb0 = (x0 * cos[a] + y * sin[a]) * inv_col + col0
                dcb = dx * cos[a] * inv_col
                i0, i1 = _k_range(cb0, dcb, nx, upper_c)
                cbf = np.float32(cb0)
                dcbf = np.float32(dcb)
                for i in range(i0, i1):
                    cc = cbf + dcbf * np.float32(i)
                    ic = np.int32(cc)
                    fc = cc - np.float32(ic)
                    v0 = sino[a, ic]
                    out_yxz[j, i, k] += v0 + fc * (sino[a, ic + 1] - v0)


# -- layout helpers ---------------------------------------------------------


def _scalars(kg: KernelGeometry, column_upsampling: int = 1) -> tuple:
    return (
        bool(kg.cone),
        float(kg.sod_um),
        float(kg.sdd_um),
        float(kg.pixel_um),
        float(kg.offset_u_um),
        float(kg.offset_v_um),
        float(kg.cos_tilt),
        float(kg.sin_tilt),
        float(kg.col_centre),
        float(kg.row_centre),
        float(column_upsampling),
    )


def to_kernel_layout(projections: np.ndarray) -> np.ndarray:
    """``[angle, row, col]`` → zero-padded, transposed ``[angle, col + 2·PAD, row + 2·PAD]``."""
    n, r, c = projections.shape
    out = np.zeros((n, c + 2 * PAD, r + 2 * PAD), dtype=np.float32)
    out[:, PAD : PAD + c, PAD : PAD + r] = projections.transpose(0, 2, 1)
    return out


def from_kernel_layout(proj_t: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_kernel_layout` (drops the padding)."""
    return np.ascontiguousarray(proj_t[:, PAD:-PAD, PAD:-PAD].transpose(0, 2, 1))


def _grid(volume: VolumeGeometry) -> tuple[np.ndarray, np.ndarray, float, float, int]:
    z = volume.z_um()
    dz = float(volume.voxel_um)
    return volume.x_um(), volume.y_um(), float(z[0]), dz, volume.shape[0]


def _matched_scale(volume: VolumeGeometry, kg: KernelGeometry) -> float:
    return volume.voxel_um**3 / kg.pixel_um**2 * _UM_TO_CM


# -- backend interface ------------------------------------------------------


def backproject_fdk(
    filtered: np.ndarray,
    kg: KernelGeometry,
    volume: VolumeGeometry,
    accumulator: np.ndarray | None = None,
    angle_block: int = 8,
    column_upsampling: int = 1,
) -> np.ndarray:
    """Distance-weighted backprojection of filtered projections, accumulated.

    Parameters
    ----------
    filtered : ndarray, shape (n_angles, nrows, L · ncols), float32
        Filtered, weighted projections (one batch of angles); ``L`` samples per
        detector column, sample ``j`` at column ``j / L``.
    kg : KernelGeometry
        Geometry of exactly these angles.
    volume : VolumeGeometry
    accumulator : ndarray, shape (ny, nx, nz), float32, optional
        The backend's running sum (from an earlier call) to add this batch into;
        a new zeroed one when None.
    angle_block : int
        Angles processed per pass over a row of voxel columns (cache reuse).
    column_upsampling : int
        ``L``: 1 for projections at the detector's own sampling,
        :func:`column_upsampling_for` for the filter stage's finer rows.

    Returns
    -------
    ndarray, shape (ny, nx, nz), float32
        The accumulator; :func:`finish_volume` turns it into a ``[z, y, x]`` volume.
    """
    column_upsampling = int(column_upsampling)
    check_filtered_columns(filtered, kg, column_upsampling)
    xs, ys, z0, dz, nz = _grid(volume)
    proj_t = to_kernel_layout(filtered)
    if accumulator is None:
        accumulator = new_accumulator(volume)
    g = _scalars(kg, column_upsampling)
    if kg.sin_tilt != 0.0:
        _backproject_fdk(
            proj_t, kg.cos, kg.sin, xs, ys, z0, dz, nz, g, int(angle_block), accumulator
        )
    elif not kg.cone and nz <= _THIN_SLAB:
        _backproject_parallel_rows(proj_t, kg.cos, kg.sin, xs, ys, z0, dz, nz, g, accumulator)
    else:
        _backproject_untilted(
            proj_t, kg.cos, kg.sin, xs, ys, z0, dz, nz, g, int(angle_block), accumulator
        )
    return accumulator


def new_accumulator(volume: VolumeGeometry) -> np.ndarray:
    """Zeroed backprojection accumulator, shape (ny, nx, nz), float32."""
    nz, ny, nx = volume.shape
    return np.zeros((ny, nx, nz), dtype=np.float32)


def finish_volume(accumulator: np.ndarray) -> np.ndarray:
    """The ``[z, y, x]`` volume (numpy, float32) of a backprojection accumulator."""
    return np.ascontiguousarray(accumulator.transpose(2, 0, 1))


def forward_project(vol: np.ndarray, kg: KernelGeometry, volume: VolumeGeometry) -> np.ndarray:
    """Voxel-driven forward projection (line integrals, volume in 1/cm).

    Returns
    -------
    ndarray, shape (n_angles, nrows, ncols), float32
    """
    xs, ys, z0, dz, _ = _grid(volume)
    vol_yxz = np.ascontiguousarray(np.asarray(vol, dtype=np.float32).transpose(1, 2, 0))
    proj_t = np.zeros((kg.cos.size, kg.ncols + 2 * PAD, kg.nrows + 2 * PAD), dtype=np.float32)
    scale = _matched_scale(volume, kg)
    _forward_splat(vol_yxz, kg.cos, kg.sin, xs, ys, z0, dz, _scalars(kg), scale, proj_t)
    return from_kernel_layout(proj_t)


def adjoint_backproject(proj: np.ndarray, kg: KernelGeometry, volume: VolumeGeometry) -> np.ndarray:
    """Exact adjoint of :func:`forward_project`.

    Returns
    -------
    ndarray, shape (nz, ny, nx), float32
    """
    xs, ys, z0, dz, nz = _grid(volume)
    proj_t = to_kernel_layout(np.asarray(proj, dtype=np.float32))
    out = np.zeros((volume.shape[1], volume.shape[2], nz), dtype=np.float32)
    scale = _matched_scale(volume, kg)
    _adjoint_gather(proj_t, kg.cos, kg.sin, xs, ys, z0, dz, _scalars(kg), scale, out)
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def threads() -> int:
    """Number of threads numba uses."""
    return numba.get_num_threads()

"""CUDA backend through CuPy ``RawKernel``s (compiled at run time by NVRTC).

The kernels mirror :mod:`.cpu` one to one — the same hoisted column mapping,
the same zero-padded transposed projection layout ``[angle, col, row]`` and the
same bilinear weights — so the two backends agree to rounding.  The FDK
backprojection comes in variants (:data:`DEFAULT_VARIANT` lists them with their
figures, ``bench/recon_fdk_gpu.py --variants`` measures them); the default reads the
mapping as float coefficients precomputed per angle and still agrees to 2e-6.  CuPy compiles
for the device it finds (no pinned architecture, no compiler toolchain on the
user's machine).  This module imports CuPy at import time; it is only imported
by :func:`recon.engine.backends.get_backend` when a device is present.
"""

from __future__ import annotations

import functools

import cupy as cp
import numpy as np

from ..geometry import KernelGeometry, VolumeGeometry
from . import cpu
from .cpu import PAD, _matched_scale
from .cuda_kernels import (
    SOURCE,
    VARIANTS,
    Z_PER_THREAD,
    compile_options,
    fast_coefficients,
    upsample_layout_2x,
)

name = "gpu"

column_upsampling_for = cpu.column_upsampling_for
"""Filtered samples per detector column: the CPU backend's rule, so both read one grid."""

_BLOCK = (16, 8, 1)
_BP_BLOCK = (32, 4, 1)

DEFAULT_VARIANT = "fast"
"""The backprojection kernel :func:`backproject_fdk` runs when no ``variant`` is given —
and so the one ``fdk``/``fbp`` use.  A key of :data:`VARIANTS`; figures at 512³ × 720
projections of 512², 8 z-voxels per thread, on an H100 (``bash bench/gpu_check.sh``):

* ``"exact"``: the CPU's double-precision column mapping and range clip per thread and
  angle: 171 G voxel-updates/s, 1.1e-6 from the CPU;
* ``"fast"`` (the default): the same mapping as float coefficients precomputed per angle
  on the host (:func:`.cuda_kernels.fast_coefficients`), voxels outside the detector
  masked: 468 G voxel-updates/s (0.21 s), 2.3e-6 from the CPU, 0.40–0.44 s end to end
  (H200: 483 G voxel-updates/s, 0.49 s);
* ``"texture"``: the exact mapping with the texture units' bilinear interpolation:
  336–421 G voxel-updates/s, but its 8-bit weights put it 1.3–2.1e-3 from the CPU on a
  sharp phantom, outside the 1e-3 promise;
* ``"texture2x"``: the fast mapping reading a texture of the projections upsampled 2x
  along both axes (:func:`.cuda_kernels.upsample_layout_2x`): within 6.5e-4 of the CPU
  but 117–186 G voxel-updates/s (the upsampling and four times the texture traffic).

``bench/recon_fdk_gpu.py --variants`` measures the speed and the CPU agreement of each."""


@functools.cache
def _compiled(z_per_thread: int, texture: bool = False, texture_upsample: int = 1) -> cp.RawModule:
    """The kernels, compiled by NVRTC for the present device (cached per build)."""
    return cp.RawModule(
        code=SOURCE, options=compile_options(z_per_thread, texture, texture_upsample)
    )


_module = _compiled(Z_PER_THREAD)

_TEXTURE_LAYERS = 512
"""Angles bound per layered texture (CUDA allows 2048 layers; fewer bound the memory
of the 2x upsampled copy: 512 × 1031² × 4 B ≈ 2.2 GB at 512² detectors)."""
_CUDA_ARRAY_LAYERED = 0x01
"""``cudaArrayLayered`` (CuPy's runtime module does not name this flag)."""


def _texture_of(part: cp.ndarray, upsample: int) -> tuple:
    """A layered texture (bilinear filtering, zero border) holding ``part`` and its array.

    ``part`` is a padded ``[angle, col, row]`` stack; with ``upsample`` 2 the texture
    holds :func:`upsample_layout_2x` of it.  The array is returned too, so that the
    caller frees both once the kernels reading them have finished.
    """
    from cupy.cuda import runtime, texture

    if upsample == 2:
        n, pc, pr = part.shape
        part = upsample_layout_2x(part, cp.empty((n, 2 * pc - 1, 2 * pr - 1), cp.float32))
    n, height, width = part.shape
    channel = texture.ChannelFormatDescriptor(32, 0, 0, 0, runtime.cudaChannelFormatKindFloat)
    layers = texture.CUDAarray(channel, width, height, n, _CUDA_ARRAY_LAYERED)
    layers.copy_from(part)
    sampling = texture.TextureDescriptor(
        (runtime.cudaAddressModeBorder,) * 3,
        runtime.cudaFilterModeLinear,
        runtime.cudaReadModeElementType,
    )
    resource = texture.ResourceDescriptor(runtime.cudaResourceTypeArray, cuArr=layers)
    return texture.TextureObject(resource, sampling), layers


def _geo(kg: KernelGeometry, column_upsampling: int = 1) -> cp.ndarray:
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
        float(column_upsampling),
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
    upsampling: int = 1,
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
        Filter response (:func:`recon.engine.filters.ramp_filter` with the same
        ``upsampling``).
    n_pad : int
        FFT length.
    upsampling : int
        Filtered samples per column: the inverse FFT has length ``upsampling · n_pad``
        (band-limited interpolation, see :func:`recon.engine.filters.apply_ramp_filter`).

    Returns
    -------
    cupy.ndarray, shape (n_angles, nrows, upsampling · ncols), float32
    """
    p = cp.asarray(rows, dtype=cp.float32)
    p *= cp.asarray(weights, dtype=cp.float32)[:, None, :]
    if cos_weight is not None:
        p *= cp.asarray(cos_weight, dtype=cp.float32)[None]
    spectrum = cp.fft.rfft(p, n=n_pad, axis=-1)
    del p
    spectrum *= cp.asarray(response, dtype=cp.float32)
    out = cp.fft.irfft(spectrum, n=upsampling * n_pad, axis=-1)
    return cp.ascontiguousarray(out[..., : upsampling * rows.shape[-1]], dtype=cp.float32)


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
    column_upsampling: int = 1,
    *,
    variant: str | None = None,
) -> cp.ndarray:
    """GPU version of :func:`recon.engine.backends.cpu.backproject_fdk`.

    ``filtered`` may be a numpy or a CuPy array; the accumulator stays on the device.
    ``variant`` picks the kernel (a key of :data:`VARIANTS`; None: :data:`DEFAULT_VARIANT`).
    """
    cpu.check_filtered_columns(filtered, kg, column_upsampling)
    return backproject_layout(
        layout(filtered),
        kg,
        volume,
        accumulator,
        column_upsampling=column_upsampling,
        variant=variant,
    )


def backproject_layout(
    proj: cp.ndarray,
    kg: KernelGeometry,
    volume: VolumeGeometry,
    accumulator: cp.ndarray | None = None,
    *,
    z_per_thread: int = Z_PER_THREAD,
    column_upsampling: int = 1,
    variant: str | None = None,
) -> cp.ndarray:
    """Run a backprojection kernel on projections already in the padded layout.

    Parameters
    ----------
    proj : cupy.ndarray, shape (n_angles, L·ncols + 2·PAD, nrows + 2·PAD), float32
    kg : KernelGeometry
    volume : VolumeGeometry
    accumulator : cupy.ndarray, shape (ny, nx, nz), optional
    z_per_thread : int
        Voxels along z per thread, 1 to 16 (a tuning knob; the result does not depend
        on it).
    column_upsampling : int
        ``L``, filtered samples per detector column.
    variant : str, optional
        A key of :data:`VARIANTS` (see :data:`DEFAULT_VARIANT`, used when None).

    Returns
    -------
    cupy.ndarray, shape (ny, nx, nz), float32
    """
    name = DEFAULT_VARIANT if variant is None else variant
    if name not in VARIANTS:
        raise ValueError(f"variant: expected one of {tuple(VARIANTS)}, got {name!r}")
    spec = VARIANTS[name]
    nz, ny, nx = volume.shape
    if accumulator is None:
        accumulator = new_accumulator(volume)
    n_angles, pc, pr = proj.shape
    kernel = _compiled(z_per_thread, spec.texture, spec.texture_upsample).get_function(spec.kernel)
    per_block = _BP_BLOCK[0] * z_per_thread
    grid = (-(-nz // per_block), -(-nx // _BP_BLOCK[1]), ny)
    sizes = (np.int32(pc), np.int32(pr))
    if spec.kernel == "backproject_fdk_fast":
        z0 = float(volume.z_um()[0])
        table = cp.asarray(fast_coefficients(kg, z0, volume.voxel_um, column_upsampling))
        xs = cp.asarray(volume.x_um(), dtype=cp.float32)
        ys = cp.asarray(volume.y_um(), dtype=cp.float32)

        def arguments(a0: int, a1: int) -> tuple:
            shape = (np.int32(nz), np.int32(nx), np.int32(ny), np.int32(a1 - a0))
            return (table[a0:a1], xs, ys, *shape, *sizes, accumulator)
    else:
        geo = _geo(kg, column_upsampling)

        def arguments(a0: int, a1: int) -> tuple:
            sub = kg._replace(cos=kg.cos[a0:a1], sin=kg.sin[a0:a1])
            return (*_common(sub, volume), *sizes, geo, accumulator)

    if not spec.texture:
        kernel(grid, _BP_BLOCK, (proj, *arguments(0, n_angles)))
        return accumulator
    for a0 in range(0, n_angles, _TEXTURE_LAYERS):
        a1 = min(a0 + _TEXTURE_LAYERS, n_angles)
        tex, layers = _texture_of(cp.ascontiguousarray(proj[a0:a1]), spec.texture_upsample)
        kernel(grid, _BP_BLOCK, (tex, *arguments(a0, a1)))
        # Dropping the texture frees its array at once, not in stream order: wait first.
        cp.cuda.get_current_stream().synchronize()
        del tex, layers
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

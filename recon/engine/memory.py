"""Peak-memory estimates and plans for analytic (FBP/FDK) reconstruction.

A reconstruction holds, at its peak: the assembled volume (unless slabs go to a
sink), one slab's backprojection accumulator and its ``[z, y, x]`` copy, and
the working set of one batch of angles — the detector rows the slab projects
onto, their weighted copy, the zero-padded FFT spectrum and inverse, the
filtered rows and the backend's padded, transposed kernel layout.  Projections
that the caller already holds in memory are not counted (they are not
allocated by the reconstruction); an ``h5py.Dataset`` is read batch by batch.

:func:`plan_reconstruction` picks the thickest slab and the angle batch that
fit a memory limit and raises :class:`InsufficientMemoryError`, naming the
memory needed, when even one slice in batches of one angle does not fit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .backends.cpu import PAD, column_upsampling_for
from .filters import FFT_CHUNK_ROWS, filter_length
from .geometry import ConeBeamGeometry, ParallelBeamGeometry, VolumeGeometry, detector_rows_for
from .weights import half_fan_padding, is_full_scan, needs_half_fan

__all__ = [
    "InsufficientMemoryError",
    "MemoryEstimate",
    "ReconstructionPlan",
    "available_memory_bytes",
    "estimate_memory",
    "plan_reconstruction",
]

Geometry = ParallelBeamGeometry | ConeBeamGeometry
_F32 = 4
_C64 = 8
DEFAULT_ANGLE_BATCH = 64
"""Angles filtered and backprojected together when memory allows."""


def _format_bytes(n: float) -> str:
    """``n`` bytes in B, KiB, MiB or GiB (one decimal)."""
    if n < 1024:
        return f"{int(n)} B"
    for unit in ("KiB", "MiB", "GiB"):
        n /= 1024
        if n < 1024 or unit == "GiB":
            break
    return f"{n:.1f} {unit}"


class InsufficientMemoryError(MemoryError):
    """A reconstruction needs more memory than it may use.

    Attributes
    ----------
    required_bytes : int
        Smallest peak the job could run with (bytes).
    limit_bytes : int
        The memory it was allowed (bytes).
    """

    def __init__(self, required_bytes: int, limit_bytes: int, what: str, advice: str) -> None:
        self.required_bytes = int(required_bytes)
        self.limit_bytes = int(limit_bytes)
        super().__init__(
            f"{what} needs about {_format_bytes(required_bytes)} of memory "
            f"({int(required_bytes)} bytes) but only {_format_bytes(limit_bytes)} "
            f"({int(limit_bytes)} bytes) may be used; {advice}"
        )


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak memory of a reconstruction, bytes, by part.

    Attributes
    ----------
    output_bytes : int
        The assembled float32 volume (0 when slabs go to a sink).
    slab_bytes : int
        Accumulator and ``[z, y, x]`` copy of one slab.
    batch_bytes : int
        Working set of one batch of angles (rows, FFT buffers, kernel layout).
    """

    output_bytes: int
    slab_bytes: int
    batch_bytes: int

    @property
    def total_bytes(self) -> int:
        """Estimated peak, bytes."""
        return self.output_bytes + self.slab_bytes + self.batch_bytes


@dataclass(frozen=True)
class ReconstructionPlan:
    """Slab thickness and angle batch chosen to fit a memory limit.

    Attributes
    ----------
    slab_slices : int
        z-slices per slab.
    angle_batch : int
        Projections filtered and backprojected together.
    estimate : MemoryEstimate
        Peak memory of this plan.
    """

    slab_slices: int
    angle_batch: int
    estimate: MemoryEstimate


def available_memory_bytes() -> int:
    """Memory the system can give this process now (``MemAvailable``), bytes."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def _rows_needed(geometry: Geometry, volume: VolumeGeometry, slab_slices: int) -> int:
    """Most detector rows any slab of ``slab_slices`` slices projects onto."""
    nz = volume.shape[0]
    t = min(int(slab_slices), nz)
    rows = 0
    for start in {0, max((nz - t) // 2, 0), nz - t}:
        lo, hi = detector_rows_for(geometry, volume.slab(start, start + t))
        rows = max(rows, hi - lo)
    return rows


def batch_bytes(n_angles: int, n_rows: int, n_cols: int, column_upsampling: int = 1) -> int:
    """Working set of weighting, filtering and laying out ``n_angles × n_rows`` rows, bytes.

    Parameters
    ----------
    n_angles, n_rows, n_cols : int
        Projections in the batch, detector rows and columns read.
    column_upsampling : int
        Filtered samples per detector column (``L``, see
        :func:`recon.engine.backends.cpu.column_upsampling_for`).
    """
    n_pad = filter_length(n_cols)
    n_out = int(column_upsampling) * n_cols
    all_rows = int(n_angles) * int(n_rows)
    per_row = _F32 * (2 * n_cols + n_out)  # rows read, their weighted copy, filtered
    # The FFT runs over at most FFT_CHUNK_ROWS rows at a time: spectrum and inverse.
    fft = min(all_rows, FFT_CHUNK_ROWS) * (
        _C64 * (n_pad // 2 + 1) + _F32 * int(column_upsampling) * n_pad
    )
    layout = int(n_angles) * _F32 * (n_out + 2 * PAD) * (int(n_rows) + 2 * PAD)
    return all_rows * per_row + fft + layout


def estimate_memory(
    geometry: Geometry,
    volume: VolumeGeometry,
    *,
    slab_slices: int | None = None,
    angle_batch: int | None = None,
    assemble: bool = True,
) -> MemoryEstimate:
    """Peak memory of an FBP/FDK reconstruction, bytes.

    Parameters
    ----------
    geometry : ParallelBeamGeometry or ConeBeamGeometry
    volume : VolumeGeometry
        The whole grid to reconstruct.
    slab_slices : int, optional
        z-slices per slab; default the whole volume in one slab.
    angle_batch : int, optional
        Angles per batch; default ``min(n_angles, 64)``.
    assemble : bool
        Whether the whole volume is assembled in memory (False with a sink).

    Returns
    -------
    MemoryEstimate
    """
    nz, ny, nx = volume.shape
    t = nz if slab_slices is None else int(slab_slices)
    b = min(geometry.n_angles, DEFAULT_ANGLE_BATCH) if angle_batch is None else int(angle_batch)
    if t < 1:
        raise ValueError(f"slab_slices: must be at least 1, got {slab_slices}")
    if b < 1:
        raise ValueError(f"angle_batch: must be at least 1, got {angle_batch}")
    t = min(t, nz)
    b = min(b, geometry.n_angles)
    rows = _rows_needed(geometry, volume, t)
    cols = geometry.ncols
    if is_full_scan(geometry) and needs_half_fan(geometry):
        cols += sum(half_fan_padding(geometry))  # the widened, symmetric detector
    voxels = nz * ny * nx
    return MemoryEstimate(
        output_bytes=_F32 * voxels if assemble else 0,
        slab_bytes=2 * _F32 * t * ny * nx,
        batch_bytes=batch_bytes(b, rows, cols, column_upsampling_for(geometry.kernel_geometry())),
    )


def plan_reconstruction(
    geometry: Geometry,
    volume: VolumeGeometry,
    *,
    memory_limit_bytes: int | None = None,
    assemble: bool = True,
    max_slab_slices: int | None = None,
) -> ReconstructionPlan:
    """The thickest slab (and an angle batch) whose peak fits the memory limit.

    Parameters
    ----------
    geometry : ParallelBeamGeometry or ConeBeamGeometry
    volume : VolumeGeometry
    memory_limit_bytes : int, optional
        Peak allowed, bytes; default :func:`available_memory_bytes`.
    assemble : bool
        Whether the whole volume is assembled in memory.
    max_slab_slices : int, optional
        Upper bound on the slab thickness.

    Returns
    -------
    ReconstructionPlan

    Raises
    ------
    InsufficientMemoryError
        When one slice in batches of one angle does not fit; the message names
        the memory needed.
    """
    limit = available_memory_bytes() if memory_limit_bytes is None else int(memory_limit_bytes)
    if limit <= 0:
        raise ValueError(f"memory_limit_bytes: must be positive, got {memory_limit_bytes}")
    nz = volume.shape[0]
    top = nz if max_slab_slices is None else max(1, min(int(max_slab_slices), nz))
    batch = min(geometry.n_angles, DEFAULT_ANGLE_BATCH)

    def fits(t: int, b: int) -> MemoryEstimate | None:
        e = estimate_memory(geometry, volume, slab_slices=t, angle_batch=b, assemble=assemble)
        return e if e.total_bytes <= limit else None

    smallest = estimate_memory(geometry, volume, slab_slices=1, angle_batch=1, assemble=assemble)
    if smallest.total_bytes > limit:
        advice = (
            "write slabs to a sink instead of assembling the volume, or reconstruct a smaller grid"
            if assemble and smallest.output_bytes > 0
            else "reconstruct a smaller grid or allow more memory"
        )
        raise InsufficientMemoryError(
            smallest.total_bytes, limit, f"reconstructing a {volume.shape} volume", advice
        )
    while batch > 1 and fits(1, batch) is None:
        batch = max(1, batch // 2)
    lo, hi = 1, top  # fits(lo, batch) holds
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid, batch) is not None:
            lo = mid
        else:
            hi = mid - 1
    estimate = estimate_memory(
        geometry, volume, slab_slices=lo, angle_batch=batch, assemble=assemble
    )
    return ReconstructionPlan(lo, batch, estimate)

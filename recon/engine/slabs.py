"""Slab-wise reconstruction for volumes larger than memory.

A volume is cut along z into slabs (:func:`split_slabs`); each slab is an
independent reconstruction problem — its own :class:`VolumeGeometry`, and only
the detector rows it projects onto are read and filtered — so separate workers
can reconstruct slabs in parallel, and :func:`assemble_slabs` (or a
:class:`recon.volume_store.VolumeWriter`) puts them together.
:func:`reconstruct_in_slabs` does both in one process in bounded memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from .fdk import fbp, fdk
from .geometry import ConeBeamGeometry, ParallelBeamGeometry, VolumeGeometry, default_volume
from .memory import plan_reconstruction

__all__ = ["Slab", "assemble_slabs", "reconstruct_in_slabs", "split_slabs"]


@dataclass(frozen=True)
class Slab:
    """A z-range ``start:stop`` of a volume and its grid."""

    start: int
    stop: int
    volume: VolumeGeometry


def split_slabs(
    volume: VolumeGeometry,
    *,
    n_slabs: int | None = None,
    max_bytes: int | None = None,
) -> list[Slab]:
    """Cut a volume along z into contiguous slabs.

    Parameters
    ----------
    volume : VolumeGeometry
    n_slabs : int, optional
        Number of slabs (at most ``nz``).
    max_bytes : int, optional
        Largest float32 slab to allow instead (at least one z-slice per slab).

    Returns
    -------
    list of Slab
    """
    nz, ny, nx = volume.shape
    if (n_slabs is None) == (max_bytes is None):
        raise ValueError("n_slabs/max_bytes: give exactly one of them")
    if n_slabs is None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes: must be positive, got {max_bytes}")
        per_slice = ny * nx * 4
        thickness = max(1, int(max_bytes // per_slice))
        n_slabs = -(-nz // thickness)
    if not n_slabs >= 1:
        raise ValueError(f"n_slabs: must be at least 1, got {n_slabs}")
    n_slabs = min(int(n_slabs), nz)
    edges = np.linspace(0, nz, n_slabs + 1).round().astype(int)
    return [
        Slab(int(a), int(b), volume.slab(a, b)) for a, b in zip(edges[:-1], edges[1:], strict=True)
    ]


def assemble_slabs(slabs: Iterable[tuple[Slab, np.ndarray]], shape: tuple[int, int, int]):
    """Put reconstructed slabs back into one volume.

    Parameters
    ----------
    slabs : iterable of (Slab, ndarray)
        Each slab with its reconstruction, shape ``(stop - start, ny, nx)``.
    shape : tuple of int
        Shape of the whole volume.

    Returns
    -------
    ndarray, float32

    Raises
    ------
    ValueError
        When a slab has the wrong shape or the slabs do not cover the volume once.
    """
    out = np.zeros(shape, dtype=np.float32)
    covered = np.zeros(shape[0], dtype=np.int32)
    for slab, data in slabs:
        expected = (slab.stop - slab.start, *shape[1:])
        if tuple(data.shape) != expected:
            raise ValueError(f"slabs: slab {slab.start}:{slab.stop} has shape {data.shape}")
        out[slab.start : slab.stop] = data
        covered[slab.start : slab.stop] += 1
    if not np.all(covered == 1):
        raise ValueError("slabs: the slabs do not cover every z-slice exactly once")
    return out


def reconstruct_in_slabs(
    projections,
    geometry: ParallelBeamGeometry | ConeBeamGeometry,
    volume: VolumeGeometry | None = None,
    *,
    memory_limit_bytes: int | None = None,
    max_bytes: int | None = None,
    sink: Callable[[int, np.ndarray], None] | None = None,
    progress: Callable[[float], None] | None = None,
    **options,
) -> np.ndarray | None:
    """FDK/FBP slab by slab, projections streamed in batches of angles, in bounded memory.

    The slab thickness and angle batch come from
    :func:`recon.engine.memory.plan_reconstruction`: the thickest slab whose
    estimated peak fits ``memory_limit_bytes``.

    Parameters
    ----------
    projections : array_like or h5py.Dataset, shape (n_angles, nrows, ncols)
        Line integrals; only the rows and angles of one batch are read at a time.
    geometry : ParallelBeamGeometry or ConeBeamGeometry
    volume : VolumeGeometry, optional
    memory_limit_bytes : int, optional
        Peak memory allowed, bytes (default: what the system has available).
    max_bytes : int, optional
        Largest slab, bytes (an upper bound on top of the memory plan).
    sink : callable(start, slab), optional
        Receives each slab (e.g. ``VolumeWriter.write_slab``); when given,
        nothing is assembled and None is returned.
    progress : callable(fraction), optional
    **options
        Passed to :func:`recon.engine.fdk.fdk` / :func:`~recon.engine.fdk.fbp`
        (``filter``, ``backend``, ``short_scan``, …).

    Returns
    -------
    ndarray or None

    Raises
    ------
    recon.engine.memory.InsufficientMemoryError
        When the job cannot fit the limit even one slice at a time; the message
        names the memory it needs.
    """
    if volume is None:
        volume = default_volume(geometry)
    nz, ny, nx = volume.shape
    cap = None
    if max_bytes is not None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes: must be positive, got {max_bytes}")
        cap = max(1, int(max_bytes) // (4 * ny * nx))
    plan = plan_reconstruction(
        geometry,
        volume,
        memory_limit_bytes=memory_limit_bytes,
        assemble=sink is None,
        max_slab_slices=cap,
    )
    algorithm = fdk if isinstance(geometry, ConeBeamGeometry) else fbp
    slabs = split_slabs(volume, n_slabs=-(-nz // plan.slab_slices))
    out = None if sink is not None else np.zeros(volume.shape, dtype=np.float32)
    for n, slab in enumerate(slabs):
        data = algorithm(
            projections,
            geometry,
            slab.volume,
            angle_batch=plan.angle_batch,
            memory_limit_bytes=plan.estimate.total_bytes,
            **options,
        )
        if sink is not None:
            sink(slab.start, data)
        else:
            out[slab.start : slab.stop] = data
        del data
        if progress is not None:
            progress((n + 1) / len(slabs))
    return out

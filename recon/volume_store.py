"""Reconstructed volumes on disk: one HDF5 file per volume, with a pyramid.

Layout::

    /volume            group; attrs: units, calibration, multiscales (JSON), provenance (JSON)
    /volume/0          full resolution [z, y, x]; attrs: voxel_size_um, level
    /volume/1, 2, …    each halved along every axis (mean of 2×2×2 blocks)
    /labels/<name>/<level>   uint8 label volumes, halved by block max or mode

A *label-only* file (:func:`write_labels`) has the same layout with an empty
``/volume`` group (its attributes only): label volumes derived from a grey volume
(a segmentation) are stored without a second copy of the grey values.

Datasets are chunked in cubes (64³ by default, smaller for small volumes), so
that a slice along any of the three axes reads only the chunks it crosses: one
chunk per z-slice makes sagittal reads about a hundred times slower.  Label
volumes are compressed with LZ4 (hdf5plugin; uint8 classes shrink tens of
times).  Grey values are stored unfiltered: reconstructed float32 values carry
noise in every bit below the first few, so LZ4 saves nothing (ratio 1.00 on the
demo's reconstructions), while a compressed chunk must be read and decoded whole
— 256 MiB for one 1024² slice through 64³ float32 chunks, ~150 ms — where a slice
of unfiltered chunks is copied from the memory-mapped file, only the bytes it
shows (:mod:`recon.mapped_chunks`, 1–15 ms; ``bench.viewer_slices``).

The ``multiscales`` attribute follows the OME-NGFF 0.4 description of a pyramid
(axes, per-level scale and translation).

A file is written under a temporary name beside its final path and renamed
when complete; :meth:`VolumeWriter.close` returns its sha256.  The writer takes
the full-resolution volume slab by slab and builds the pyramid slab by slab,
so an out-of-core reconstruction never holds the whole volume.
"""

from __future__ import annotations

import json
import mmap
import os
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin
import numpy as np

from acquisition.formats.atomic import commit_file, partial_path_for, sha256_file

from .mapped_chunks import MappedChunks

__all__ = [
    "OpenVolumes",
    "VolumeMetadata",
    "VolumeWriter",
    "level_histogram",
    "level_shapes",
    "open_volumes",
    "read_region",
    "read_label_slice",
    "read_metadata",
    "read_preview",
    "read_slice",
    "read_tile",
    "write_labels",
    "write_volume",
]

UNITS = ("1/cm", "mgHA/cm3")

GREY_FILTERS: Mapping[str, Any] = {}
"""HDF5 filters of grey-value datasets: none (see the module's docstring)."""

LABEL_FILTERS: Mapping[str, Any] = dict(hdf5plugin.LZ4())
"""HDF5 filters of label datasets: LZ4."""
LABEL_REDUCTIONS = ("max", "mode")


def level_shapes(
    shape, min_size: int = 1, n_levels: int | None = None
) -> list[tuple[int, int, int]]:
    """Shapes of the pyramid levels of a volume of ``shape`` ``(nz, ny, nx)``.

    Every level halves each side of the one before, rounding up, while the smallest
    side stays at least ``min_size``; at most ``n_levels`` levels when given.
    """
    shapes = [tuple(int(s) for s in shape)]
    while min(shapes[-1]) >= 2 * min_size and (n_levels is None or len(shapes) < n_levels):
        shapes.append(tuple((s + 1) // 2 for s in shapes[-1]))
    return shapes


def _chunks(shape: tuple[int, int, int], chunk: int) -> tuple[int, int, int]:
    return tuple(max(1, min(chunk, s)) for s in shape)


def _pad_even(block: np.ndarray) -> np.ndarray:
    pads = [(0, s % 2) for s in block.shape]
    return np.pad(block, pads, mode="edge") if any(p[1] for p in pads) else block


def _halve_mean(block: np.ndarray) -> np.ndarray:
    b = _pad_even(block.astype(np.float32, copy=False))
    z, y, x = b.shape
    return b.reshape(z // 2, 2, y // 2, 2, x // 2, 2).mean(axis=(1, 3, 5), dtype=np.float32)


def _halve_labels(block: np.ndarray, how: str) -> np.ndarray:
    b = _pad_even(block)
    z, y, x = b.shape
    cells = b.reshape(z // 2, 2, y // 2, 2, x // 2, 2).transpose(0, 2, 4, 1, 3, 5)
    cells = cells.reshape(z // 2, y // 2, x // 2, 8)
    if how == "max":
        return cells.max(axis=-1)
    values = np.unique(cells)
    counts = np.stack([(cells == v).sum(axis=-1) for v in values], axis=-1)
    # argmax takes the first (smallest) label among ties.
    return values[np.argmax(counts, axis=-1)].astype(block.dtype)


@dataclass(frozen=True)
class VolumeMetadata:
    """What :func:`read_metadata` returns.

    Attributes
    ----------
    shapes : list of tuple
        ``(nz, ny, nx)`` per level.
    voxel_size_um : list of float
        Voxel size per level, µm.
    units : str
        ``"1/cm"`` or ``"mgHA/cm3"``.
    dtype : str
    calibration : dict or None
        ``{"slope": …, "intercept": …}`` (mgHA/cm³ per 1/cm).
    provenance : dict
    multiscales : list
        The OME-NGFF-like description.
    labels : dict
        Label name → list of level shapes.
    chunks : tuple of int
        Chunk shape of level 0.
    """

    shapes: list[tuple[int, int, int]]
    voxel_size_um: list[float]
    units: str
    dtype: str
    calibration: dict | None
    provenance: dict
    multiscales: list
    labels: dict[str, list[tuple[int, int, int]]] = field(default_factory=dict)
    chunks: tuple[int, ...] = ()
    grey: bool = True
    """False for a label-only file (:func:`write_labels`): no grey values, and
    ``shapes``, ``voxel_size_um``, ``dtype`` and ``chunks`` describe its labels."""


class VolumeWriter:
    """Write one volume file slab by slab, then build its pyramid.

    Parameters
    ----------
    path : str or PathLike
        Final file name; written under a ``.partial`` name beside it and renamed on close.
    shape : tuple of int
        ``(nz, ny, nx)`` of the full-resolution volume.
    voxel_size_um : float
        Full-resolution voxel size, µm.
    units : {"1/cm", "mgHA/cm3"}
    dtype : numpy dtype
        Stored value type (float32 by default).
    calibration : mapping, optional
        At least ``slope`` and ``intercept``.
    provenance : mapping, optional
        E.g. ``source_sha256``, ``algorithm``, ``parameters``, ``backend``,
        ``code_version``; stored as JSON.
    chunk : int
        Edge of the cubic chunks (32–64 recommended).
    min_level_size : int
        Stop halving when the next level's smallest side would fall below this.
    label_names : sequence of str
        Label volumes to expect (uint8, same shape as the volume).
    label_reduction : {"max", "mode"}
        How label levels are halved.
    grey : bool
        False writes a label-only file: no grey values (:meth:`write_slab` refuses),
        only the label volumes and the ``/volume`` group's attributes.
    n_levels : int, optional
        Keep at most this many pyramid levels (e.g. those of the grey volume a
        label-only file belongs to); by default ``min_level_size`` decides.

    Examples
    --------
    >>> with VolumeWriter(path, (64, 64, 64), 5.0, "1/cm") as w:  # doctest: +SKIP
    ...     for start, slab in slabs:
    ...         w.write_slab(start, slab)
    >>> w.sha256  # doctest: +SKIP
    """

    def __init__(
        self,
        path: str | os.PathLike,
        shape: tuple[int, int, int],
        voxel_size_um: float,
        units: str,
        *,
        dtype: Any = np.float32,
        calibration: Mapping[str, Any] | None = None,
        provenance: Mapping[str, Any] | None = None,
        chunk: int = 64,
        min_level_size: int = 16,
        label_names: tuple[str, ...] | list[str] = (),
        label_reduction: str = "max",
        grey: bool = True,
        n_levels: int | None = None,
    ) -> None:
        shape = tuple(int(s) for s in shape)
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"shape: expected three positive sizes, got {shape!r}")
        if not (np.isfinite(voxel_size_um) and voxel_size_um > 0):
            raise ValueError(f"voxel_size_um: must be positive, got {voxel_size_um!r}")
        if units not in UNITS:
            raise ValueError(f"units: expected one of {UNITS}, got {units!r}")
        if calibration is not None and not {"slope", "intercept"} <= set(calibration):
            raise ValueError("calibration: needs 'slope' and 'intercept'")
        if label_reduction not in LABEL_REDUCTIONS:
            raise ValueError(
                f"label_reduction: expected one of {LABEL_REDUCTIONS}, got {label_reduction!r}"
            )
        if chunk < 1:
            raise ValueError(f"chunk: must be positive, got {chunk}")
        if n_levels is not None and n_levels < 1:
            raise ValueError(f"n_levels: must be positive, got {n_levels}")
        self.path = Path(path)
        self.shape = shape
        self.voxel_size_um = float(voxel_size_um)
        self.units = units
        self.dtype = np.dtype(dtype)
        self.calibration = dict(calibration) if calibration is not None else None
        self.provenance = dict(provenance or {})
        self.chunk = int(chunk)
        self.levels = (
            level_shapes(shape, int(min_level_size))
            if n_levels is None
            else level_shapes(shape, 1, int(n_levels))
        )
        self.grey = bool(grey)
        self.label_reduction = label_reduction
        self.sha256: str | None = None
        self._tmp = partial_path_for(self.path)
        self._file = h5py.File(self._tmp, "w")
        self._written = np.zeros(shape[0], dtype=bool)
        self._labels_written: dict[str, np.ndarray] = {}
        group = self._file.create_group("volume")
        if self.grey:
            group.create_dataset(
                "0",
                shape=shape,
                dtype=self.dtype,
                chunks=_chunks(shape, self.chunk),
                **GREY_FILTERS,
            )
        self._file.create_group("labels")
        for name in label_names:
            self._create_label(name)

    # -- writing -------------------------------------------------------------
    def _create_label(self, name: str) -> None:
        if not name or "/" in name:
            raise ValueError(f"label_names: invalid name {name!r}")
        if name in self._labels_written:
            return
        group = self._file["labels"].create_group(name)
        group.create_dataset(
            "0",
            shape=self.shape,
            dtype=np.uint8,
            chunks=_chunks(self.shape, self.chunk),
            **LABEL_FILTERS,
        )
        self._labels_written[name] = np.zeros(self.shape[0], dtype=bool)

    def _check_slab(self, start: int, data: np.ndarray, what: str) -> tuple[int, int]:
        start = int(start)
        if data.ndim != 3 or data.shape[1:] != self.shape[1:]:
            raise ValueError(f"{what}: expected shape (n, {self.shape[1]}, {self.shape[2]})")
        stop = start + data.shape[0]
        if start < 0 or stop > self.shape[0]:
            raise ValueError(f"start: slab {start}:{stop} lies outside 0:{self.shape[0]}")
        return start, stop

    def write_slab(self, start: int, data: np.ndarray) -> None:
        """Store ``data`` as full-resolution slices ``start:start + len(data)``."""
        if not self.grey:
            raise ValueError("write_slab: this is a label-only file (grey=False)")
        data = np.asarray(data)
        start, stop = self._check_slab(start, data, "data")
        self._file["volume/0"][start:stop] = data.astype(self.dtype, copy=False)
        self._written[start:stop] = True

    def write_label_slab(self, name: str, start: int, labels: np.ndarray) -> None:
        """Store uint8 ``labels`` of label volume ``name`` at slices ``start:…``."""
        labels = np.asarray(labels)
        if labels.dtype != np.uint8:
            raise ValueError(f"labels: expected uint8, got {labels.dtype}")
        self._create_label(name)
        start, stop = self._check_slab(start, labels, "labels")
        self._file[f"labels/{name}/0"][start:stop] = labels
        self._labels_written[name][start:stop] = True

    def _build_pyramid(self, group: h5py.Group, reduce, dtype, filters: Mapping) -> None:
        for level in range(1, len(self.levels)):
            src = group[str(level - 1)]
            shape = self.levels[level]
            dst = group.create_dataset(
                str(level),
                shape=shape,
                dtype=dtype,
                chunks=_chunks(shape, self.chunk),
                **filters,
            )
            # Read two destination chunks' worth of source slices at a time, so each
            # destination chunk is compressed and written once.
            step = 2 * dst.chunks[0]
            for z0 in range(0, src.shape[0], step):
                block = src[z0 : z0 + step]
                dst[z0 // 2 : z0 // 2 + (block.shape[0] + 1) // 2] = reduce(block).astype(dtype)

    def _multiscales(self) -> list[dict]:
        datasets = []
        for level in range(len(self.levels)):
            scale = self.voxel_size_um * 2**level
            shift = (2**level - 1) / 2 * self.voxel_size_um
            datasets.append(
                {
                    "path": str(level),
                    "coordinateTransformations": [
                        {"type": "scale", "scale": [scale] * 3},
                        {"type": "translation", "translation": [shift] * 3},
                    ],
                }
            )
        axes = [{"name": n, "type": "space", "unit": "micrometer"} for n in ("z", "y", "x")]
        return [{"version": "0.4", "name": "volume", "axes": axes, "datasets": datasets}]

    def close(self) -> str:
        """Build the pyramids, write attributes, rename into place; return sha256.

        Raises
        ------
        ValueError
            When some slices were never written (the temporary file is removed).
        """
        if self.sha256 is not None:
            return self.sha256
        try:
            missing = np.flatnonzero(~self._written)
            if self.grey and missing.size:
                raise ValueError(f"write_slab: {missing.size} z-slices were never written")
            if not (self.grey or self._labels_written):
                raise ValueError("label_names: a label-only file needs at least one label volume")
            for name, done in self._labels_written.items():
                if not done.all():
                    raise ValueError(f"write_label_slab: label {name!r} is incomplete")
            vol = self._file["volume"]
            if self.grey:
                self._build_pyramid(vol, _halve_mean, self.dtype, GREY_FILTERS)
                for level in range(len(self.levels)):
                    vol[str(level)].attrs["voxel_size_um"] = self.voxel_size_um * 2**level
                    vol[str(level)].attrs["level"] = level
            vol.attrs["units"] = self.units
            vol.attrs["calibration"] = json.dumps(self.calibration)
            vol.attrs["multiscales"] = json.dumps(self._multiscales())
            vol.attrs["provenance"] = json.dumps(self.provenance, default=str)
            for name in self._labels_written:
                group = self._file[f"labels/{name}"]
                how = self.label_reduction
                self._build_pyramid(
                    group, lambda b, how=how: _halve_labels(b, how), np.uint8, LABEL_FILTERS
                )
                group.attrs["reduction"] = how
                for level in range(len(self.levels)):
                    group[str(level)].attrs["voxel_size_um"] = self.voxel_size_um * 2**level
            self._file.close()
            self.sha256 = sha256_file(self._tmp)
            commit_file(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        return self.sha256

    def abort(self) -> None:
        """Discard the temporary file (nothing appears under the final name)."""
        try:
            self._file.close()
        finally:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> VolumeWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_volume(
    path: str | os.PathLike,
    volume: np.ndarray,
    voxel_size_um: float,
    units: str,
    *,
    labels: Mapping[str, np.ndarray] | None = None,
    **options,
) -> str:
    """Write a whole in-memory volume (and label volumes); return the file's sha256.

    Parameters
    ----------
    path : str or PathLike
    volume : ndarray, shape (nz, ny, nx)
    voxel_size_um : float
    units : {"1/cm", "mgHA/cm3"}
    labels : mapping of name → uint8 ndarray, optional
    **options
        Passed to :class:`VolumeWriter` (calibration, provenance, chunk, …).
    """
    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ValueError(f"volume: expected 3-D [z, y, x], got shape {volume.shape}")
    labels = dict(labels or {})
    options.setdefault("dtype", volume.dtype if volume.dtype.kind == "f" else np.float32)
    with VolumeWriter(
        path, volume.shape, voxel_size_um, units, label_names=tuple(labels), **options
    ) as writer:
        writer.write_slab(0, volume)
        for name, lab in labels.items():
            writer.write_label_slab(name, 0, np.asarray(lab))
    return writer.sha256


def write_labels(
    path: str | os.PathLike,
    labels: Mapping[str, np.ndarray],
    voxel_size_um: float,
    units: str,
    **options,
) -> str:
    """Write a label-only file (no grey values); return its sha256.

    Parameters
    ----------
    path : str or PathLike
    labels : mapping of name → uint8 ndarray, shape (nz, ny, nx)
        At least one; all of the same shape.
    voxel_size_um : float
        Full-resolution voxel size, µm.
    units : {"1/cm", "mgHA/cm3"}
        Units of the grey volume the labels belong to (recorded, not used).
    **options
        Passed to :class:`VolumeWriter`: ``n_levels`` (match the grey volume's
        pyramid), ``label_reduction``, ``calibration``, ``provenance``, ``chunk``, …
    """
    labels = {name: np.asarray(lab) for name, lab in labels.items()}
    if not labels:
        raise ValueError("labels: expected at least one label volume")
    shapes = {lab.shape for lab in labels.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 3:
        raise ValueError(f"labels: expected 3-D volumes of one shape, got {sorted(shapes)}")
    with VolumeWriter(
        path,
        next(iter(shapes)),
        voxel_size_um,
        units,
        label_names=tuple(labels),
        grey=False,
        **options,
    ) as writer:
        for name, lab in labels.items():
            writer.write_label_slab(name, 0, lab)
    return writer.sha256


# -- reading -----------------------------------------------------------------


def read_metadata(path: str | os.PathLike) -> VolumeMetadata:
    """Levels, voxel sizes, units, calibration, provenance and labels of a volume file."""
    with h5py.File(path, "r") as f:
        vol = f["volume"]
        levels = sorted(vol.keys(), key=int)
        labels = {
            name: [tuple(f[f"labels/{name}/{k}"].shape) for k in sorted(grp.keys(), key=int)]
            for name, grp in f["labels"].items()
        }
        # A label-only file describes its levels by its first label volume.
        grey = bool(levels)
        if not grey:
            vol = f[f"labels/{next(iter(labels))}"]
            levels = sorted(vol.keys(), key=int)
        return VolumeMetadata(
            shapes=[tuple(vol[k].shape) for k in levels],
            voxel_size_um=[float(vol[k].attrs["voxel_size_um"]) for k in levels],
            units=str(f["volume"].attrs["units"]),
            dtype=str(vol["0"].dtype),
            calibration=json.loads(f["volume"].attrs["calibration"]),
            provenance=json.loads(f["volume"].attrs["provenance"]),
            multiscales=json.loads(f["volume"].attrs["multiscales"]),
            labels=labels,
            chunks=tuple(vol["0"].chunks),
            grey=grey,
        )


def _check_slice(shape: tuple[int, ...], axis: int, index: int) -> None:
    if axis not in (0, 1, 2):
        raise ValueError(f"axis: expected 0 (z), 1 (y) or 2 (x), got {axis!r}")
    n = shape[axis]
    if not 0 <= index < n:
        raise ValueError(f"index: {index} outside 0:{n} along axis {axis}")


def _slice_of(dataset: h5py.Dataset, axis: int, index: int, rows: slice, cols: slice):
    _check_slice(dataset.shape, axis, index)
    sel: list[Any] = [rows, cols]
    sel.insert(axis, int(index))
    return dataset[tuple(sel)]


def _dataset(f: h5py.File, group: str, level: int) -> h5py.Dataset:
    key = f"{group}/{int(level)}"
    if key not in f:
        raise ValueError(f"level: {level} not in {f.filename} ({group})")
    return f[key]


def read_slice(path: str | os.PathLike, axis: int, index: int, level: int = 0) -> np.ndarray:
    """One 2-D slice: ``axis`` 0 → ``[y, x]`` at z=index, 1 → ``[z, x]``, 2 → ``[z, y]``."""
    with h5py.File(path, "r") as f:
        return _slice_of(_dataset(f, "volume", level), axis, index, slice(None), slice(None))


def read_tile(
    path: str | os.PathLike,
    axis: int,
    index: int,
    rows: slice,
    cols: slice,
    level: int = 0,
) -> np.ndarray:
    """A sub-rectangle ``[rows, cols]`` of the slice :func:`read_slice` would return."""
    with h5py.File(path, "r") as f:
        return _slice_of(_dataset(f, "volume", level), axis, index, rows, cols)


def read_label_slice(
    path: str | os.PathLike, name: str, axis: int, index: int, level: int = 0
) -> np.ndarray:
    """One 2-D slice of label volume ``name`` (same axes as :func:`read_slice`)."""
    with h5py.File(path, "r") as f:
        return _slice_of(
            _dataset(f, f"labels/{name}", level), axis, index, slice(None), slice(None)
        )


def read_preview(path: str | os.PathLike, max_size: int = 128) -> tuple[np.ndarray, int]:
    """The first pyramid level whose largest side is at most ``max_size`` (or the last).

    Returns
    -------
    volume : ndarray
    level : int
    """
    with h5py.File(path, "r") as f:
        vol = f["volume"]
        levels = sorted(vol.keys(), key=int)
        chosen = next((k for k in levels if max(vol[k].shape) <= max_size), levels[-1])
        return vol[chosen][...], int(chosen)


# -- many reads from one process ---------------------------------------------


@dataclass
class _OpenFile:
    handle: h5py.File
    mapping: mmap.mmap
    datasets: dict = field(default_factory=dict)  # (group, level) → h5py.Dataset
    mapped: dict = field(default_factory=dict)  # (group, level) → MappedChunks or None


class OpenVolumes:
    """A per-process LRU of open read-only volume files and their datasets.

    Opening an HDF5 file costs about a millisecond and each open dataset keeps its
    own chunk cache, so a server answering many slice requests keeps the files and
    datasets open.  A file is keyed by its path, size and modification time (volume
    files are never changed, but a path could be re-used after a delete).  Each file is
    also mapped read-only: slices of unfiltered datasets (the grey values) are copied
    from the mapping (:class:`recon.mapped_chunks.MappedChunks`), those of compressed
    ones (labels) go through h5py and its chunk cache.

    Parameters
    ----------
    max_files : int
        Files kept open; the least recently used is closed beyond this.
    chunk_cache_bytes : int
        HDF5 chunk cache per open dataset, bytes.  Scrolling through z-slices of a
        volume chunked in 64³ re-reads the same chunks 64 times; a cache that holds
        one layer of chunks (``nx · ny · 64 · itemsize``) decompresses each once
        (512² uint8 labels: 16 MiB).  Caches fill only as chunks are read: the worst
        case is about ``max_files × 2 × chunk_cache_bytes`` (a label volume at two
        levels), 512 MiB per process with the defaults.
    """

    def __init__(self, max_files: int = 4, chunk_cache_bytes: int = 64 << 20) -> None:
        if max_files < 1:
            raise ValueError(f"max_files: must be positive, got {max_files}")
        if chunk_cache_bytes < 0:
            raise ValueError(f"chunk_cache_bytes: must be >= 0, got {chunk_cache_bytes}")
        self.max_files = int(max_files)
        self.chunk_cache_bytes = int(chunk_cache_bytes)
        self._files: OrderedDict[tuple, _OpenFile] = OrderedDict()
        self._lock = threading.Lock()

    def _entry(self, path: str | os.PathLike) -> _OpenFile:
        path = os.fspath(path)
        stat = os.stat(path)
        key = (path, stat.st_size, stat.st_mtime_ns)
        with self._lock:
            entry = self._files.get(key)
            if entry is not None:
                self._files.move_to_end(key)
                return entry
            handle = h5py.File(
                path, "r", rdcc_nbytes=self.chunk_cache_bytes, rdcc_nslots=100_003, rdcc_w0=1.0
            )
            try:
                with open(path, "rb") as raw:
                    mapping = mmap.mmap(raw.fileno(), 0, access=mmap.ACCESS_READ)
            except BaseException:
                handle.close()
                raise
            entry = _OpenFile(handle, mapping)
            self._files[key] = entry
            while len(self._files) > self.max_files:
                # The mapping is dropped, not closed: a reader in another thread may
                # still hold a view of it (it closes when the last one goes).
                _, old = self._files.popitem(last=False)
                old.handle.close()
            return entry

    def dataset(self, path: str | os.PathLike, group: str, level: int) -> h5py.Dataset:
        """The open dataset ``<group>/<level>`` of file ``path`` (``group`` e.g. ``"volume"``).

        Raises
        ------
        ValueError
            When the file has no such group or level.
        """
        return self._dataset_of(self._entry(path), group, level)

    @staticmethod
    def _dataset_of(entry: _OpenFile, group: str, level: int) -> h5py.Dataset:
        key = (group, int(level))
        dataset = entry.datasets.get(key)
        if dataset is None:
            dataset = _dataset(entry.handle, group, level)
            entry.datasets[key] = dataset
        return dataset

    def region(
        self,
        path: str | os.PathLike,
        group: str,
        level: int,
        axis: int,
        index: int,
        rows: slice = slice(None),
        cols: slice = slice(None),
    ) -> np.ndarray:
        """A slice or tile of ``<group>/<level>`` (axes as :func:`read_slice`).

        Raises
        ------
        ValueError
            Bad group, level, axis or index.
        """
        entry = self._entry(path)
        dataset = self._dataset_of(entry, group, level)
        _check_slice(dataset.shape, axis, index)
        key = (group, int(level))
        if key not in entry.mapped:
            entry.mapped[key] = MappedChunks.of(dataset, entry.mapping)
        reader = entry.mapped[key]
        if reader is None:
            return _slice_of(dataset, axis, index, rows, cols)
        return reader.region(axis, index, rows, cols)

    def close(self) -> None:
        """Close every open file."""
        with self._lock:
            while self._files:
                _, entry = self._files.popitem()
                entry.handle.close()


open_volumes = OpenVolumes()
"""The process's shared :class:`OpenVolumes` (used by the viewer's slice endpoints)."""


def read_region(
    path: str | os.PathLike,
    axis: int,
    index: int,
    level: int = 0,
    rows: slice = slice(None),
    cols: slice = slice(None),
    *,
    label: str | None = None,
    files: OpenVolumes | None = None,
) -> np.ndarray:
    """A slice or tile through the cached open file (same axes as :func:`read_slice`).

    Parameters
    ----------
    path : str or PathLike
    axis : {0, 1, 2}
        0 → ``[y, x]`` at z = index, 1 → ``[z, x]``, 2 → ``[z, y]``.
    index : int
        Slice index along ``axis`` at ``level``.
    level : int
        Pyramid level.
    rows, cols : slice
        Sub-rectangle of the slice (whole slice by default).
    label : str, optional
        Read label volume ``label`` instead of the grey values.
    files : OpenVolumes, optional
        The file cache (the process's :data:`open_volumes` by default).

    Returns
    -------
    ndarray, 2-D
        Stored dtype (float32 grey values, uint8 labels).

    Raises
    ------
    ValueError
        Bad axis, index, level or label name.
    """
    files = files or open_volumes
    group = "volume" if label is None else f"labels/{label}"
    if label is not None and (not label or "/" in label):
        raise ValueError(f"label: invalid name {label!r}")
    return files.region(path, group, level, axis, index, rows, cols)


def level_histogram(
    path: str | os.PathLike,
    level: int,
    bins: int = 256,
    *,
    files: OpenVolumes | None = None,
) -> dict[str, Any]:
    """Histogram and robust range of one pyramid level's grey values.

    Parameters
    ----------
    path : str or PathLike
    level : int
        Pyramid level to count (a coarse one: the whole level is read).
    bins : int
        Number of equal-width bins between the level's minimum and maximum.
    files : OpenVolumes, optional

    Returns
    -------
    dict
        ``level``; ``edges`` (bins + 1 floats, stored units); ``counts`` (bins ints);
        ``min``, ``max``, ``p01``, ``p99`` (0.5th and 99.5th percentiles), ``mean``.
        Non-finite values are not counted.
    """
    if bins < 2:
        raise ValueError(f"bins: expected at least 2, got {bins}")
    files = files or open_volumes
    data = files.dataset(path, "volume", level)[...]
    values = data[np.isfinite(data)].astype(np.float64, copy=False)
    if values.size == 0:
        raise ValueError(f"level: {level} of {path} holds no finite value")
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        hi = lo + 1.0
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    p01, p99 = np.percentile(values, [0.5, 99.5])
    return {
        "level": int(level),
        "edges": edges.tolist(),
        "counts": counts.tolist(),
        "min": float(values.min()),
        "max": float(values.max()),
        "p01": float(p01),
        "p99": float(p99),
        "mean": float(values.mean()),
    }

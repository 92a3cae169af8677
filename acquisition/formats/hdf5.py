"""HDF5 helpers shared by the NXtomo and DXchange readers.

Importing this module registers the compression filters of :mod:`hdf5plugin` (LZ4,
Blosc, Zstd …) with HDF5, so compressed scans read transparently.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401  (registers the compression filters)
import numpy as np

from .errors import NotHDF5Error
from .scan import LazyStack

__all__ = ["HDF5Stack", "open_hdf5", "read_optional", "runs"]


def open_hdf5(path: str | Path) -> h5py.File:
    """Open an HDF5 file read-only.

    Raises
    ------
    NotHDF5Error
        Missing file, not HDF5 (wrong signature) or truncated/corrupt.
    """
    path = Path(path)
    if not path.is_file():
        raise NotHDF5Error(f"{path.name}: no such file")
    if not h5py.is_hdf5(path):
        raise NotHDF5Error(f"{path.name}: not an HDF5 file (no HDF5 signature)")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise NotHDF5Error(f"{path.name}: unreadable or truncated HDF5 file ({exc})") from exc


def read_optional(group: h5py.Group, name: str) -> np.ndarray | None:
    """The value of dataset ``name`` in ``group`` (``None`` when absent or not a dataset)."""
    obj = group.get(name)
    if not isinstance(obj, h5py.Dataset):
        return None
    return obj[()]


def runs(indices: np.ndarray) -> list[tuple[int, int, int]]:
    """Contiguous runs of a sorted index array: ``[(position, first, length), …]``."""
    out: list[tuple[int, int, int]] = []
    start = 0
    for k in range(1, len(indices) + 1):
        if k == len(indices) or indices[k] != indices[k - 1] + 1:
            out.append((start, int(indices[start]), k - start))
            start = k
    return out


class HDF5Stack(LazyStack):
    """Frames ``indices`` of a 3-D dataset, read on demand (the file is opened per read).

    Parameters
    ----------
    path : pathlib.Path
        The HDF5 file.
    dataset : str
        Path of the ``[frame, row, col]`` dataset inside it.
    indices : numpy.ndarray
        Increasing frame indices making up the stack.
    shape : tuple of int
        Shape of the dataset (frames, rows, cols).
    dtype : numpy.dtype
    """

    def __init__(
        self, path: Path, dataset: str, indices: np.ndarray, shape: tuple[int, ...], dtype: np.dtype
    ) -> None:
        super().__init__(len(indices), (int(shape[1]), int(shape[2])), dtype)
        self.path = Path(path)
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)

    def _read(self, positions: np.ndarray, rows: slice) -> np.ndarray:
        selection = self.indices[positions]
        out = np.empty((len(selection), rows.stop - rows.start, self.shape[2]), self.dtype)
        with open_hdf5(self.path) as f:
            data = f[self.dataset]
            for pos, first, length in runs(selection):
                out[pos : pos + length] = data[first : first + length, rows, :]
        return out

"""Slices of unfiltered chunked HDF5 datasets, read from a memory map of the file.

HDF5 reads a chunk whole into its chunk cache before it copies the selected part out,
so one 1024² slice through a 1024³ float32 volume in 64³ chunks moves 256 MiB (and
page-faults fresh buffers for it: ~110 ms cold), and without a chunk cache it reads a
sagittal slice four bytes at a time (~500 ms).  The chunks of an unfiltered dataset are
plain C-ordered arrays at known offsets in the file: mapped read-only, a slice copies
only the bytes it shows (~1–15 ms; ``bench.viewer_slices``).

Filtered (compressed) datasets, and anything else this reader does not understand,
are left to h5py (:meth:`MappedChunks.of` answers None).
"""

from __future__ import annotations

import mmap

import h5py
import numpy as np

__all__ = ["MappedChunks"]


class MappedChunks:
    """The chunk index of one unfiltered 3-D dataset and the mapped file holding it.

    Build with :meth:`of`.  ``region(axis, index, rows, cols)`` returns the same array
    as ``dataset[index, rows, cols]`` (``axis`` 0; the index moves for axes 1 and 2).
    """

    def __init__(
        self,
        mapping: mmap.mmap,
        shape: tuple[int, int, int],
        dtype: np.dtype,
        chunks: tuple[int, int, int],
        offsets: np.ndarray,
        fill: float,
    ) -> None:
        self._mapping = mapping
        self.shape = shape
        self.dtype = dtype
        self.chunks = chunks
        self._offsets = offsets  # file offset per chunk [gz, gy, gx]; -1: never written
        self._fill = fill

    @classmethod
    def of(cls, dataset: h5py.Dataset, mapping: mmap.mmap) -> MappedChunks | None:
        """The reader of ``dataset`` in the file mapped by ``mapping``, or None.

        None unless the dataset is 3-D, chunked, unfiltered, of a plain numeric type,
        and every written chunk lies whole inside the mapping.
        """
        if dataset.ndim != 3 or dataset.chunks is None or dataset.dtype.kind not in "fiu":
            return None
        if dataset.id.get_create_plist().get_nfilters():
            return None
        chunks = tuple(int(c) for c in dataset.chunks)
        grid = tuple(-(-s // c) for s, c in zip(dataset.shape, chunks, strict=True))
        offsets = np.full(grid, -1, np.int64)
        chunk_bytes = int(np.prod(chunks)) * dataset.dtype.itemsize
        fits = True

        def index(info) -> None:
            nonlocal fits
            if info.size != chunk_bytes or info.byte_offset + chunk_bytes > len(mapping):
                fits = False
                return
            at = tuple(o // c for o, c in zip(info.chunk_offset, chunks, strict=True))
            offsets[at] = info.byte_offset

        dataset.id.chunk_iter(index)
        if not fits:
            return None
        fill = dataset.fillvalue
        return cls(mapping, dataset.shape, dataset.dtype, chunks, offsets, fill)

    def _chunk(self, grid_index: tuple[int, int, int]) -> np.ndarray | None:
        offset = int(self._offsets[grid_index])
        if offset < 0:
            return None
        return np.ndarray(self.chunks, self.dtype, buffer=self._mapping, offset=offset)

    def region(self, axis: int, index: int, rows: slice, cols: slice) -> np.ndarray:
        """The slice ``index`` along ``axis``, rows and columns ``rows``, ``cols``.

        ``rows``/``cols`` are the slice's two other axes in order (step 1); ``index``
        must lie inside the dataset (the caller checks).
        """
        plane = [d for d in range(3) if d != axis]
        starts, stops = [], []
        for sel, d in zip((rows, cols), plane, strict=True):
            start, stop, step = sel.indices(self.shape[d])
            if step != 1:
                raise ValueError(f"rows, cols: step 1 only, got {sel!r}")
            starts.append(start)
            stops.append(max(start, stop))
        out = np.empty([b - a for a, b in zip(starts, stops, strict=True)], self.dtype)
        if out.size == 0:
            return out
        c_axis = self.chunks[axis]
        (d_r, d_c), (c_r, c_c) = plane, (self.chunks[plane[0]], self.chunks[plane[1]])
        at = [0, 0, 0]
        at[axis] = index // c_axis
        pick = [slice(None)] * 3
        pick[axis] = index % c_axis
        for g_r in range(starts[0] // c_r, -(-stops[0] // c_r)):
            r0, r1 = max(starts[0], g_r * c_r), min(stops[0], (g_r + 1) * c_r)
            for g_c in range(starts[1] // c_c, -(-stops[1] // c_c)):
                c0, c1 = max(starts[1], g_c * c_c), min(stops[1], (g_c + 1) * c_c)
                at[d_r], at[d_c] = g_r, g_c
                target = out[r0 - starts[0] : r1 - starts[0], c0 - starts[1] : c1 - starts[1]]
                chunk = self._chunk(tuple(at))
                if chunk is None:
                    target[...] = self._fill
                    continue
                pick[d_r] = slice(r0 - g_r * c_r, r1 - g_r * c_r)
                pick[d_c] = slice(c0 - g_c * c_c, c1 - g_c * c_c)
                target[...] = chunk[tuple(pick)]
        return out

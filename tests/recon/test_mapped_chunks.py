"""Slices read from the memory-mapped chunks equal h5py's, or the reader steps aside."""

from __future__ import annotations

import mmap

import h5py
import hdf5plugin
import numpy as np
import pytest

from recon import volume_store as vs
from recon.mapped_chunks import MappedChunks

SHAPE = (37, 29, 23)  # no side a multiple of the chunk: edge chunks everywhere
CHUNKS = (8, 16, 5)


def _mapped(path, name="v"):
    handle = h5py.File(path, "r")
    with open(path, "rb") as raw:
        mapping = mmap.mmap(raw.fileno(), 0, access=mmap.ACCESS_READ)
    return handle, handle[name], mapping


@pytest.fixture(params=[np.float32, np.uint16, np.uint8])
def written(request, tmp_path):
    rng = np.random.default_rng(4)
    data = (rng.random(SHAPE) * 200).astype(request.param)
    path = tmp_path / "v.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("v", data=data, chunks=CHUNKS)
    handle, dataset, mapping = _mapped(path)
    yield data, MappedChunks.of(dataset, mapping)
    handle.close()


def test_every_slice_along_every_axis_equals_numpy(written):
    data, reader = written
    assert reader is not None
    for axis in range(3):
        for index in range(SHAPE[axis]):
            expected = np.take(data, index, axis=axis)
            got = reader.region(axis, index, slice(None), slice(None))
            assert got.dtype == data.dtype
            np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    ("axis", "index", "rows", "cols"),
    [
        (0, 9, slice(3, 20), slice(4, 11)),  # crosses chunk borders both ways
        (1, 28, slice(0, 1), slice(22, 23)),  # one voxel, last edge chunk
        (2, 5, slice(30, 37), slice(15, 17)),
        (2, 0, slice(-5, None), slice(None, 3)),  # negative and open bounds
        (1, 3, slice(10, 10), slice(0, 5)),  # empty
    ],
)
def test_tiles_equal_numpy_indexing(written, axis, index, rows, cols):
    data, reader = written
    sel = [rows, cols]
    sel.insert(axis, index)
    np.testing.assert_array_equal(reader.region(axis, index, rows, cols), data[tuple(sel)])


def test_chunks_never_written_read_as_the_fill_value(tmp_path):
    path = tmp_path / "v.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("v", shape=(16, 16, 16), dtype=np.float32, chunks=(8, 8, 8), fillvalue=-3)
        f["v"][0:8, 0:8, 0:8] = 7.0  # one chunk of eight
    handle, dataset, mapping = _mapped(path)
    plane = MappedChunks.of(dataset, mapping).region(0, 2, slice(None), slice(None))
    handle.close()
    assert (plane[:8, :8] == 7.0).all()
    assert (plane[8:, :] == -3).all() and (plane[:, 8:] == -3).all()


def test_compressed_contiguous_and_truncated_datasets_are_left_to_h5py(tmp_path):
    path = tmp_path / "v.h5"
    data = np.arange(16**3, dtype=np.float32).reshape(16, 16, 16)
    with h5py.File(path, "w") as f:
        f.create_dataset("lz4", data=data, chunks=(8, 8, 8), **hdf5plugin.LZ4())
        f.create_dataset("contiguous", data=data)
        f.create_dataset("flat", data=data.reshape(256, 16), chunks=(8, 8))
        f.create_dataset("chunked", data=data, chunks=(8, 8, 8))
    handle = h5py.File(path, "r")
    with open(path, "rb") as raw:
        mapping = mmap.mmap(raw.fileno(), 0, access=mmap.ACCESS_READ)
    for name in ("lz4", "contiguous", "flat"):
        assert MappedChunks.of(handle[name], mapping) is None, name
    assert MappedChunks.of(handle["chunked"], mapping) is not None
    # A mapping that ends before a chunk does: not read past it.
    short = tmp_path / "short.bin"
    short.write_bytes(b"\0" * 4096)
    with open(short, "rb") as raw:
        too_short = mmap.mmap(raw.fileno(), 0, access=mmap.ACCESS_READ)
    assert MappedChunks.of(handle["chunked"], too_short) is None
    handle.close()


def test_open_volumes_read_grey_values_mapped_and_labels_through_h5py(tmp_path):
    rng = np.random.default_rng(1)
    volume = rng.normal(size=(40, 36, 34)).astype(np.float32)
    labels = (rng.random((40, 36, 34)) > 0.7).astype(np.uint8)
    path = tmp_path / "v.h5"
    vs.write_volume(path, volume, 5.0, "1/cm", labels={"seg": labels}, chunk=16)
    files = vs.OpenVolumes()
    np.testing.assert_array_equal(vs.read_region(path, 2, 33, files=files), volume[:, :, 33])
    np.testing.assert_array_equal(
        vs.read_region(path, 1, 7, 0, slice(5, 30), slice(2, 3), files=files), volume[5:30, 7, 2:3]
    )
    np.testing.assert_array_equal(vs.read_region(path, 0, 39, label="seg", files=files), labels[39])
    (entry,) = files._files.values()
    assert isinstance(entry.mapped[("volume", 0)], MappedChunks)
    assert entry.mapped[("labels/seg", 0)] is None  # LZ4: h5py decodes it
    with pytest.raises(ValueError, match="index: 40 outside 0:40"):
        vs.read_region(path, 0, 40, files=files)
    files.close()

"""The volume store: round trip, pyramid values, labels, atomic writes, provenance."""

from __future__ import annotations

import hashlib

import h5py
import hdf5plugin
import numpy as np
import pytest

from recon import volume_store as vs


def _ramp(shape: tuple[int, int, int]) -> np.ndarray:
    """A volume whose value encodes its index: v = 10000 z + 100 y + x."""
    z, y, x = np.indices(shape, dtype=np.float32)
    return 10000 * z + 100 * y + x


def test_round_trip_slices_and_tiles_equal_numpy_indexing(tmp_path):
    volume = _ramp((40, 36, 34))
    path = tmp_path / "v.h5"
    vs.write_volume(path, volume, 5.0, "1/cm", chunk=16)

    np.testing.assert_array_equal(vs.read_slice(path, 0, 7), volume[7])
    np.testing.assert_array_equal(vs.read_slice(path, 1, 35), volume[:, 35, :])
    np.testing.assert_array_equal(vs.read_slice(path, 2, 0), volume[:, :, 0])
    tile = vs.read_tile(path, 1, 3, slice(4, 20), slice(10, 30))
    np.testing.assert_array_equal(tile, volume[4:20, 3, 10:30])


def test_pyramid_levels_are_block_means_with_edge_padding(tmp_path):
    volume = _ramp((33, 32, 32))
    path = tmp_path / "v.h5"
    vs.write_volume(path, volume, 2.5, "1/cm", chunk=8, min_level_size=4)
    meta = vs.read_metadata(path)

    assert meta.shapes == [(33, 32, 32), (17, 16, 16), (9, 8, 8), (5, 4, 4)]
    assert meta.voxel_size_um == [2.5, 5.0, 10.0, 20.0]
    level1 = vs.read_slice(path, 0, 3, level=1)
    # Mean of z in {6, 7}, y in {2j, 2j+1}, x in {2i, 2i+1}: 10000·6.5 + 100·(2j+0.5) + 2i+0.5.
    j, i = np.indices((16, 16))
    np.testing.assert_allclose(level1, 65000 + 100 * (2 * j + 0.5) + 2 * i + 0.5, rtol=1e-6)
    # The odd last z-slice (32) is padded by repeating it: its level-1 mean is z = 32.
    last = vs.read_slice(path, 0, 16, level=1)
    np.testing.assert_allclose(last, 320000 + 100 * (2 * j + 0.5) + 2 * i + 0.5, rtol=1e-6)


def test_label_pyramids_by_max_and_by_mode(tmp_path):
    labels = np.zeros((8, 8, 8), np.uint8)
    labels[0, 0, 0] = 2  # one voxel of eight: max keeps it, mode drops it
    labels[2:4, 2:4, 2:4] = 1
    labels[2, 2, 2] = 3
    volume = np.zeros((8, 8, 8), np.float32)
    for how, expected_corner, expected_block in (("max", 2, 3), ("mode", 0, 1)):
        path = tmp_path / f"{how}.h5"
        vs.write_volume(
            path,
            volume,
            1.0,
            "1/cm",
            labels={"remodelling": labels},
            label_reduction=how,
            chunk=4,
            min_level_size=2,
        )
        half = vs.read_label_slice(path, "remodelling", 0, 0, level=1)
        assert half[0, 0] == expected_corner
        assert vs.read_label_slice(path, "remodelling", 0, 1, level=1)[1, 1] == expected_block
        assert vs.read_metadata(path).labels["remodelling"] == [(8, 8, 8), (4, 4, 4), (2, 2, 2)]


def _filter_ids(dataset: h5py.Dataset) -> list[int]:
    plist = dataset.id.get_create_plist()
    return [plist.get_filter(k)[0] for k in range(plist.get_nfilters())]


def test_grey_values_are_stored_unfiltered_and_labels_with_lz4(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.zeros((64, 64, 64), np.uint8)
    labels[10:40, 5:50, 20:30] = 2
    path = tmp_path / "v.h5"
    vs.write_volume(
        path,
        rng.normal(1.0, 0.3, (64, 64, 64)).astype(np.float32),
        5.0,
        "1/cm",
        labels={"segmentation": labels},
        chunk=32,
        min_level_size=8,
    )
    with h5py.File(path, "r") as f:
        for level in ("0", "1", "2", "3"):
            assert _filter_ids(f[f"volume/{level}"]) == []
            assert _filter_ids(f[f"labels/segmentation/{level}"]) == [hdf5plugin.LZ4_ID]
        # The uint8 classes shrink many times; the grey values occupy their raw size.
        assert f["labels/segmentation/0"].id.get_storage_size() < labels.nbytes / 20
        assert f["volume/0"].id.get_storage_size() == 64**3 * 4
    np.testing.assert_array_equal(vs.read_label_slice(path, "segmentation", 0, 20), labels[20])


def test_metadata_carries_units_calibration_provenance_and_chunks(tmp_path):
    path = tmp_path / "v.h5"
    provenance = {"source_sha256": "ab" * 32, "algorithm": "fdk", "backend": "cpu"}
    sha = vs.write_volume(
        path,
        np.ones((70, 70, 70), np.float32),
        4.0,
        "mgHA/cm3",
        calibration={"slope": 812.0, "intercept": -95.0},
        provenance=provenance,
    )
    meta = vs.read_metadata(path)
    assert meta.units == "mgHA/cm3"
    assert meta.calibration == {"slope": 812.0, "intercept": -95.0}
    assert meta.provenance == provenance
    assert meta.chunks == (64, 64, 64)
    assert meta.multiscales[0]["datasets"][1]["coordinateTransformations"][0]["scale"] == [8.0] * 3
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()


def test_slab_writer_matches_whole_volume_write(tmp_path):
    volume = _ramp((24, 20, 18))
    whole, slabs = tmp_path / "whole.h5", tmp_path / "slabs.h5"
    vs.write_volume(whole, volume, 1.0, "1/cm", chunk=8)
    with vs.VolumeWriter(slabs, volume.shape, 1.0, "1/cm", chunk=8) as writer:
        for start in (16, 0, 8):  # any order
            writer.write_slab(start, volume[start : start + 8])
    for level in range(len(vs.read_metadata(whole).shapes)):
        np.testing.assert_array_equal(
            vs.read_slice(whole, 2, 3, level=level), vs.read_slice(slabs, 2, 3, level=level)
        )


def test_incomplete_volume_raises_and_leaves_no_file(tmp_path):
    path = tmp_path / "v.h5"
    writer = vs.VolumeWriter(path, (10, 8, 8), 1.0, "1/cm")
    writer.write_slab(0, np.zeros((6, 8, 8)))
    with pytest.raises(ValueError, match="4 z-slices were never written"):
        writer.close()
    assert list(tmp_path.iterdir()) == []


def test_exception_inside_writer_leaves_no_file(tmp_path):
    path = tmp_path / "v.h5"
    with pytest.raises(RuntimeError), vs.VolumeWriter(path, (4, 4, 4), 1.0, "1/cm") as writer:
        writer.write_slab(0, np.zeros((4, 4, 4)))
        raise RuntimeError("worker stopped")
    assert list(tmp_path.iterdir()) == []


def test_file_appears_only_complete(tmp_path):
    path = tmp_path / "v.h5"
    writer = vs.VolumeWriter(path, (4, 4, 4), 1.0, "1/cm")
    writer.write_slab(0, np.zeros((4, 4, 4)))
    assert not path.exists()  # still under its temporary name
    writer.close()
    with h5py.File(path, "r") as f:
        assert f["volume/0"].shape == (4, 4, 4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shape": (4, 4)}, "shape"),
        ({"voxel_size_um": 0.0}, "voxel_size_um"),
        ({"units": "HU"}, "units"),
        ({"calibration": {"slope": 1.0}}, "calibration"),
        ({"label_reduction": "min"}, "label_reduction"),
    ],
)
def test_bad_writer_arguments_name_the_argument(tmp_path, kwargs, message):
    arguments = {"shape": (4, 4, 4), "voxel_size_um": 1.0, "units": "1/cm"} | kwargs
    with pytest.raises(ValueError, match=message):
        vs.VolumeWriter(tmp_path / "v.h5", **arguments)
    assert list(tmp_path.iterdir()) == []


def test_bad_slab_and_slice_requests(tmp_path):
    path = tmp_path / "v.h5"
    with (
        pytest.raises(ValueError, match="outside"),
        vs.VolumeWriter(path, (4, 4, 4), 1.0, "1/cm") as writer,
    ):
        writer.write_slab(2, np.zeros((3, 4, 4)))
    vs.write_volume(path, np.zeros((4, 4, 4), np.float32), 1.0, "1/cm")
    with pytest.raises(ValueError, match="index"):
        vs.read_slice(path, 0, 4)
    with pytest.raises(ValueError, match="axis"):
        vs.read_slice(path, 3, 0)
    with pytest.raises(ValueError, match="level"):
        vs.read_slice(path, 0, 0, level=5)


def test_preview_is_the_first_level_small_enough(tmp_path):
    path = tmp_path / "v.h5"
    vs.write_volume(path, _ramp((64, 64, 64)), 1.0, "1/cm", chunk=16, min_level_size=8)
    preview, level = vs.read_preview(path, max_size=20)
    assert (preview.shape, level) == ((16, 16, 16), 2)


def test_label_only_files_keep_the_pyramid_and_no_grey_values(tmp_path):
    labels = np.zeros((20, 36, 40), np.uint8)
    labels[2:10, 4:20, 8:30] = 3
    labels[12:18, 20:34, 2:12] = 1
    path = tmp_path / "labels.h5"
    sha = vs.write_labels(path, {"segmentation": labels}, 7.5, "1/cm", n_levels=3, chunk=16)
    meta = vs.read_metadata(path)
    assert meta.grey is False
    # Halved twice: (20, 36, 40) → (10, 18, 20) → (5, 9, 10), voxel sizes doubling.
    assert meta.shapes == [(20, 36, 40), (10, 18, 20), (5, 9, 10)]
    assert meta.labels["segmentation"] == meta.shapes
    assert meta.voxel_size_um == [7.5, 15.0, 30.0]
    assert meta.dtype == "uint8" and meta.units == "1/cm"
    assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
    with h5py.File(path, "r") as f:
        assert len(f["volume"]) == 0  # no grey values stored
    assert np.array_equal(vs.read_label_slice(path, "segmentation", 0, 14), labels[14])
    # Mode of each 2×2×2 block: the blocks inside the class-3 box are all 3.
    assert vs.read_label_slice(path, "segmentation", 0, 3, level=1)[5, 8] == 3

    grey_path = tmp_path / "grey.h5"
    vs.write_volume(grey_path, np.ones((20, 36, 40), np.float32), 7.5, "1/cm", min_level_size=4)
    assert vs.read_metadata(grey_path).grey is True
    assert vs.read_metadata(grey_path).shapes == meta.shapes  # the same levels as a grey volume


def test_a_label_only_file_refuses_grey_values_and_needs_labels(tmp_path):
    writer = vs.VolumeWriter(tmp_path / "x.h5", (4, 4, 4), 5.0, "1/cm", grey=False)
    with pytest.raises(ValueError, match="label-only"):
        writer.write_slab(0, np.zeros((4, 4, 4), np.float32))
    with pytest.raises(ValueError, match="at least one label"):
        writer.close()
    assert not (tmp_path / "x.h5").exists()
    with pytest.raises(ValueError, match="at least one"):
        vs.write_labels(tmp_path / "y.h5", {}, 5.0, "1/cm")

"""The NXtomo writer: layout, attributes, DXchange view, atomic commit, no partial files."""

from __future__ import annotations

import hashlib
import json

import h5py
import hdf5plugin
import numpy as np
import pytest

from acquisition.drivers import Frame, FrameType, ScanGeometry
from acquisition.formats import (
    MissingReferenceError,
    NXtomoWriter,
    read_scan,
    validate_scan,
)
from tests.acquisition.core_fixtures import small_settings, write_small_scan


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    return write_small_scan(tmp_path_factory.mktemp("nx") / "scan.h5")


def test_layout_has_the_nxtomo_paths_with_units(scan):
    with h5py.File(scan.path) as f:
        entry = f["entry"]
        assert entry.attrs["NX_class"] == "NXentry"
        assert entry["definition"][()] == b"NXtomo"
        det = entry["instrument/detector"]
        assert det.attrs["NX_class"] == "NXdetector"
        assert det["data"].shape == (20, 64, 64)
        assert det["data"].dtype == np.uint16
        assert det["data"].chunks == (1, 64, 64)
        assert list(det["image_key"][()]) == [2, 2, 1, 1, 1] + [0] * 12 + [1, 1, 1]
        expected = {
            "x_pixel_size": (352.0, "um"),
            "y_pixel_size": (352.0, "um"),
            "distance": (225_000.0, "um"),
            "x_rotation_axis_pixel_position": (31.5, "pixel"),
            "count_time": (0.025, "s"),
        }
        for name, (value, units) in expected.items():
            assert det[name][()] == pytest.approx(value), name
            assert det[name].attrs["units"] == units, name
        source = entry["instrument/source"]
        assert source.attrs["NX_class"] == "NXsource"
        assert source["probe"][()] == b"x-ray"
        assert source["type"][()] == b"Fixed Tube X-ray"
        for name, value, units in (
            ("distance", 25_000.0, "um"),
            ("voltage", 60.0, "kV"),
            ("current", 100.0, "uA"),
        ):
            assert source[name][()] == value
            assert source[name].attrs["units"] == units
        angles = entry["sample/rotation_angle"]
        assert angles.attrs["units"] == "deg"
        assert angles[5:17] == pytest.approx(np.arange(12) * 15.0)
        assert entry["sample/name"][()] == b"mouse 7"
        assert det["timestamp"].attrs["units"] == "s"
        assert np.all(np.diff(det["timestamp"][()]) > 0)
        assert json.loads(entry["notes/data"][()])["n_projections"] == 12
        nxdata = entry["data"]
        assert nxdata.attrs["signal"] == "data"
        assert nxdata["data"].id == det["data"].id  # a link, not a copy


def test_dxchange_paths_give_the_same_frames(scan):
    with h5py.File(scan.path) as f:
        data = f["entry/instrument/detector/data"][()]
        keys = f["entry/instrument/detector/image_key"][()]
        ex = f["exchange"]
        assert np.array_equal(ex["data"][()], data[keys == 0])
        assert np.array_equal(ex["data_white"][()], data[keys == 1])
        assert np.array_equal(ex["data_dark"][()], data[keys == 2])
        assert ex["theta"][()] == pytest.approx(np.arange(12) * 15.0)
        assert ex["theta"].attrs["units"] == "deg"
        assert ex["data"].is_virtual
    nx, dx = read_scan(scan.path), read_scan(scan.path, "dxchange")
    assert nx.format == "nxtomo" and dx.format == "dxchange"
    assert np.array_equal(nx.projections[:], dx.projections[:])
    assert np.array_equal(nx.flats, dx.flats) and np.array_equal(nx.darks, dx.darks)
    assert nx.geometry == dx.geometry


def test_reader_returns_lazy_projections_angles_and_geometry(scan):
    data = validate_scan(scan.path, "nxtomo")
    assert data.projections.shape == (12, 64, 64)
    assert data.flats.shape == (6, 64, 64) and data.darks.shape == (2, 64, 64)
    assert data.angles_deg == pytest.approx(np.arange(12) * 15.0)
    assert data.geometry == ScanGeometry(25_000.0, 250_000.0, 352.0, 64, 64, 31.5)
    assert data.sample_name == "mouse 7"
    rows = data.projections.read_rows(10, 14)
    assert rows.shape == (12, 4, 64)
    assert np.array_equal(rows[3], data.projections[3][10:14])
    assert data.metadata["kv"] == 60.0


def test_sha256_is_that_of_the_final_file_and_nothing_else_is_left(scan):
    assert scan.sha256 == hashlib.sha256(scan.path.read_bytes()).hexdigest()
    assert scan.n_frames == 20
    assert [p.name for p in scan.path.parent.iterdir()] == ["scan.h5"]


@pytest.mark.parametrize(
    "compression, filter_id",
    [
        ("lz4", hdf5plugin.LZ4_ID),
        ("blosc-lz4", hdf5plugin.BLOSC_ID),
        ("blosc-zstd", hdf5plugin.BLOSC_ID),
    ],
)
def test_compressed_scans_read_back_identically(tmp_path, scan, compression, filter_id):
    compressed = write_small_scan(tmp_path / "c.h5", compression=compression)
    a, b = read_scan(scan.path), read_scan(compressed.path)
    assert np.array_equal(a.projections[:], b.projections[:])
    assert np.array_equal(a.flats, b.flats)
    with h5py.File(compressed.path) as f:
        plist = f["entry/instrument/detector/data"].id.get_create_plist()
        assert plist.get_nfilters() == 1
        assert plist.get_filter(0)[0] == filter_id


def _writer(path, **kw):
    g = ScanGeometry(25_000.0, 250_000.0, 352.0, 8, 8, 3.5)
    return NXtomoWriter(
        path, frame_shape=(8, 8), geometry=g, settings=small_settings(), sample_name="m", **kw
    )


def _frame(kind, index, angle=0.0):
    return Frame(np.full((8, 8), index, np.uint16), angle, float(index), kind, index)


def test_an_exception_during_the_scan_leaves_no_file(tmp_path):
    with pytest.raises(RuntimeError, match="worker died"), _writer(tmp_path / "s.h5") as w:
        w.append(_frame(FrameType.DARK, 0))
        assert w.partial_path.exists() and w.partial_path.name.endswith(".partial")
        raise RuntimeError("worker died")
    assert list(tmp_path.iterdir()) == []


def test_discard_and_leaving_without_commit_remove_the_partial_file(tmp_path):
    w = _writer(tmp_path / "s.h5")
    w.append(_frame(FrameType.DARK, 0))
    w.discard()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError, match="closed"):
        w.append(_frame(FrameType.DARK, 1))
    with _writer(tmp_path / "t.h5") as w2:
        w2.append(_frame(FrameType.DARK, 0))
    assert list(tmp_path.iterdir()) == []


def test_commit_refuses_a_scan_without_flats_and_leaves_no_file(tmp_path):
    with _writer(tmp_path / "s.h5") as w:
        w.append(_frame(FrameType.DARK, 0))
        w.append(_frame(FrameType.PROJECTION, 0, 0.0))
        with pytest.raises(MissingReferenceError, match="no flat fields"):
            w.commit()
    assert list(tmp_path.iterdir()) == []


def test_frames_beyond_the_expected_count_grow_the_dataset(tmp_path):
    with _writer(tmp_path / "s.h5", expected_frames=2) as w:
        w.append(_frame(FrameType.DARK, 0))
        w.append(_frame(FrameType.FLAT, 1))
        for k in range(40):
            w.append(_frame(FrameType.PROJECTION, k, float(k)))
        written = w.commit()
    scan = read_scan(written.path)
    assert scan.projections.shape == (40, 8, 8)
    assert scan.projections[39][0, 0] == 39


def test_wrong_frames_and_existing_files_are_refused(tmp_path):
    with _writer(tmp_path / "s.h5") as w:
        with pytest.raises(ValueError, match="frame shape"):
            w.append(Frame(np.zeros((4, 8), np.uint16), 0.0, 0.0, FrameType.DARK, 0))
        with pytest.raises(ValueError, match="dtype"):
            w.append(Frame(np.zeros((8, 8), np.float32), 0.0, 0.0, FrameType.DARK, 0))
    (tmp_path / "exists.h5").write_bytes(b"x")
    with pytest.raises(FileExistsError):
        _writer(tmp_path / "exists.h5")
    with pytest.raises(ValueError, match="compression"):
        _writer(tmp_path / "z.h5", compression="zip")

"""Each kind of bad scan file is refused with its own error and a clear message."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest
import tifffile

from acquisition.formats import (
    AngleError,
    DimensionError,
    GeometryMissingError,
    MissingReferenceError,
    NotHDF5Error,
    ScanFormatError,
    UnreadableFileError,
    UnsupportedDtypeError,
    read_scan,
    validate_scan,
    write_tiff_stack,
)
from tests.acquisition.core_fixtures import write_small_scan

KEYS = np.array([2, 1, 0, 0, 0, 0])
ANGLES = np.array([0.0, 0.0, 0.0, 45.0, 90.0, 135.0])
GEOMETRY = {"sod_um": 25_000.0, "sdd_um": 250_000.0, "pixel_um": 352.0}


def _nxtomo(path, *, data=None, keys=KEYS, angles=ANGLES, geometry=True):
    data = np.ones((6, 4, 5), np.uint16) if data is None else data
    with h5py.File(path, "w") as f:
        det = f.create_group("entry/instrument/detector")
        det["data"] = data
        if keys is not None:
            det["image_key"] = keys
        if angles is not None:
            f["entry/sample/rotation_angle"] = angles
        if geometry:
            f["entry/instrument/source/distance"] = 25_000.0
            det["distance"] = 225_000.0
            det["x_pixel_size"] = 352.0
    return path


def _dxchange(
    path, *, theta=(0.0, 45.0, 90.0, 135.0), white=True, dark=True, sidecar=True, units=None
):
    with h5py.File(path, "w") as f:
        f["exchange/data"] = np.ones((4, 4, 5), np.uint16)
        if white:
            f["exchange/data_white"] = np.ones((2, 4, 5), np.uint16)
        if dark:
            f["exchange/data_dark"] = np.zeros((1, 4, 5), np.uint16)
        if theta is not None:
            f["exchange/theta"] = np.asarray(theta)
            if units:
                f["exchange/theta"].attrs["units"] = units
    if sidecar:
        path.with_suffix(".json").write_text(json.dumps(GEOMETRY))
    return path


def test_a_well_formed_minimal_file_is_accepted(tmp_path):
    scan = validate_scan(_nxtomo(tmp_path / "ok.h5"), "nxtomo")
    assert scan.projections.shape == (4, 4, 5)
    assert scan.geometry.sdd_um == 250_000.0
    assert scan.geometry.axis_pixel_position == 2.0


def test_all_errors_are_value_errors_with_a_code():
    assert issubclass(ScanFormatError, ValueError)
    codes = {
        c.code
        for c in (
            NotHDF5Error,
            DimensionError,
            AngleError,
            UnsupportedDtypeError,
            MissingReferenceError,
            GeometryMissingError,
        )
    }
    assert len(codes) == 6


def test_not_hdf5(tmp_path):
    path = tmp_path / "scan.h5"
    path.write_text("this is a CSV, not a scan\n")
    with pytest.raises(NotHDF5Error, match="not an HDF5 file"):
        validate_scan(path, "nxtomo")
    with pytest.raises(NotHDF5Error, match="no such file"):
        validate_scan(tmp_path / "missing.h5", "nxtomo")


def test_truncated_hdf5(tmp_path):
    good = write_small_scan(tmp_path / "good.h5")
    cut = tmp_path / "cut.h5"
    cut.write_bytes(good.path.read_bytes()[: good.n_bytes // 2])
    with pytest.raises(NotHDF5Error, match="truncated"):
        validate_scan(cut, "nxtomo")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"data": np.ones((6, 20), np.uint16)}, "must be 3-D"),
        ({"keys": np.array([2, 1, 0, 0])}, "4 image_key values for 6 frames"),
    ],
)
def test_wrong_dimensions(tmp_path, kwargs, message):
    with pytest.raises(DimensionError, match=message):
        validate_scan(_nxtomo(tmp_path / "s.h5", **kwargs), "nxtomo")


def test_dxchange_flats_of_another_shape(tmp_path):
    path = _dxchange(tmp_path / "d.h5", white=False)
    with h5py.File(path, "a") as f:
        f["exchange/data_white"] = np.ones((2, 4, 6), np.uint16)
    with pytest.raises(
        DimensionError, match=r"flat fields frames are \(4, 6\) but projections are \(4, 5\)"
    ):
        validate_scan(path, "dxchange")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"angles": None}, "rotation angles are missing"),
        (
            {"angles": np.array([0.0, 0.0, 0.0, 90.0, 45.0, 135.0])},
            r"must increase strictly; angle 2 \(45°\) follows 90°",
        ),
        ({"angles": np.array([0.0, 0.0, 0.0, 45.0, np.nan, 135.0])}, "finite"),
        ({"angles": np.arange(5.0)}, "5 rotation angles for 6 frames"),
    ],
)
def test_missing_or_non_monotonic_angles(tmp_path, kwargs, message):
    with pytest.raises(AngleError, match=message):
        validate_scan(_nxtomo(tmp_path / "s.h5", **kwargs), "nxtomo")


def test_dxchange_angles_missing_or_repeated(tmp_path):
    with pytest.raises(AngleError, match="missing"):
        validate_scan(_dxchange(tmp_path / "a.h5", theta=None), "dxchange")
    with pytest.raises(AngleError, match="increase"):
        validate_scan(_dxchange(tmp_path / "b.h5", theta=(0.0, 10.0, 10.0, 20.0)), "dxchange")


def test_dxchange_theta_in_radians_is_converted(tmp_path):
    scan = validate_scan(
        _dxchange(tmp_path / "r.h5", theta=(0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4), units="rad"),
        "dxchange",
    )
    assert scan.angles_deg == pytest.approx([0.0, 45.0, 90.0, 135.0])


@pytest.mark.parametrize("dtype", [np.int16, np.float64, np.complex64])
def test_unsupported_dtype(tmp_path, dtype):
    with pytest.raises(
        UnsupportedDtypeError,
        match=f"detector data are {np.dtype(dtype)}; supported: uint8, uint16, uint32, float32",
    ):
        validate_scan(_nxtomo(tmp_path / "s.h5", data=np.ones((6, 4, 5), dtype)), "nxtomo")


@pytest.mark.parametrize(
    "keys, message",
    [
        (np.array([2, 0, 0, 0, 0, 0]), "no flat fields"),
        (np.array([1, 0, 0, 0, 0, 0]), "no dark fields"),
    ],
)
def test_missing_flats_or_darks(tmp_path, keys, message):
    angles = np.array([0.0, 0.0, 10.0, 20.0, 30.0, 40.0])
    with pytest.raises(MissingReferenceError, match=message):
        validate_scan(_nxtomo(tmp_path / "s.h5", keys=keys, angles=angles), "nxtomo")
    with pytest.raises(MissingReferenceError, match="image_key"):
        validate_scan(_nxtomo(tmp_path / "k.h5", keys=None), "nxtomo")
    with pytest.raises(MissingReferenceError, match="no dark fields"):
        validate_scan(_dxchange(tmp_path / "d.h5", dark=False), "dxchange")


def test_geometry_missing(tmp_path):
    with pytest.raises(GeometryMissingError, match="no sod_um, sdd_um, pixel_um"):
        validate_scan(_nxtomo(tmp_path / "s.h5", geometry=False), "nxtomo")
    with pytest.raises(GeometryMissingError, match="no NXtomo geometry, no d.json"):
        validate_scan(_dxchange(tmp_path / "d.h5", sidecar=False), "dxchange")
    path = _nxtomo(tmp_path / "u.h5")
    with h5py.File(path, "a") as f:
        f["entry/instrument/source/distance"].attrs["units"] = "keV"
    with pytest.raises(GeometryMissingError, match="'keV' are not a length"):
        validate_scan(path, "nxtomo")


def test_dxchange_geometry_from_sidecar_or_argument(tmp_path):
    scan = validate_scan(_dxchange(tmp_path / "d.h5"), "dxchange")
    assert scan.geometry.magnification == pytest.approx(10.0)
    given = validate_scan(
        _dxchange(tmp_path / "e.h5", sidecar=False), "dxchange", {**GEOMETRY, "sdd_um": 100_000.0}
    )
    assert given.geometry.magnification == pytest.approx(4.0)


def test_geometry_lengths_in_millimetres_are_converted(tmp_path):
    path = _nxtomo(tmp_path / "mm.h5")
    with h5py.File(path, "a") as f:
        del f["entry/instrument/source/distance"]
        f["entry/instrument/source/distance"] = -25.0  # NeXus: upstream is negative
        f["entry/instrument/source/distance"].attrs["units"] = "mm"
    assert validate_scan(path, "nxtomo").geometry.sod_um == pytest.approx(25_000.0)


def test_hdf5_of_neither_convention_is_refused_by_detection(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["volume"] = np.zeros((2, 2, 2))
    with pytest.raises(DimensionError, match="neither NXtomo nor DXchange"):
        read_scan(path)


# -- TIFF stack + JSON ------------------------------------------------------------


def _tiff(folder, **overrides):
    parts = {
        "projections": np.arange(4 * 4 * 5, dtype=np.uint16).reshape(4, 4, 5),
        "flats": np.full((2, 4, 5), 1000, np.uint16),
        "darks": np.full((1, 4, 5), 100, np.uint16),
        "angles_deg": [0.0, 45.0, 90.0, 135.0],
        "geometry": GEOMETRY,
    }
    parts.update(overrides)
    return write_tiff_stack(folder, **parts)


def test_tiff_stack_round_trip(tmp_path):
    json_file = _tiff(tmp_path / "t")
    scan = validate_scan(json_file.parent, "tiff")
    assert scan.format == "tiff"
    assert scan.projections.shape == (4, 4, 5)
    assert np.array_equal(scan.projections[2], np.arange(40, 60, dtype=np.uint16).reshape(4, 5))
    assert np.array_equal(scan.projections.read_rows(1, 3)[3], scan.projections[3][1:3])
    assert scan.flats.shape == (2, 4, 5) and scan.darks[0, 0, 0] == 100
    assert scan.geometry.pixel_um == 352.0
    assert read_scan(json_file).angles_deg == pytest.approx([0.0, 45.0, 90.0, 135.0])


def test_tiff_stack_of_single_page_files(tmp_path):
    json_file = _tiff(tmp_path / "t")
    folder = json_file.parent
    names = []
    for k in range(4):
        tifffile.imwrite(folder / f"p{k}.tif", tifffile.imread(folder / "projections.tif", key=k))
        names.append(f"p{k}.tif")
    spec = json.loads(json_file.read_text())
    spec["projections"] = names
    json_file.write_text(json.dumps(spec))
    assert np.array_equal(
        validate_scan(json_file, "tiff").projections[3], tifffile.imread(folder / "p3.tif")
    )


def test_tiff_stack_bad_inputs(tmp_path):
    with pytest.raises(UnsupportedDtypeError, match="int16"):
        validate_scan(_tiff(tmp_path / "a", projections=np.ones((4, 4, 5), np.int16)), "tiff")
    with pytest.raises(AngleError, match="3 rotation angles for 4 projections"):
        validate_scan(_tiff(tmp_path / "b", angles_deg=[0.0, 1.0, 2.0]), "tiff")
    with pytest.raises(DimensionError, match="dark fields frames are"):
        validate_scan(_tiff(tmp_path / "c", darks=np.ones((1, 3, 5), np.uint16)), "tiff")
    with pytest.raises(GeometryMissingError, match="no sdd_um"):
        validate_scan(_tiff(tmp_path / "d", geometry={"sod_um": 1.0, "pixel_um": 2.0}), "tiff")
    json_file = _tiff(tmp_path / "e")
    (json_file.parent / "flats.tif").write_bytes(b"not a tiff")
    with pytest.raises(UnreadableFileError, match="flats.tif: not a readable TIFF"):
        validate_scan(json_file, "tiff")
    (json_file.parent / "flats.tif").unlink()
    with pytest.raises(UnreadableFileError, match="flats file 'flats.tif' not found"):
        validate_scan(json_file, "tiff")
    json_file.write_text("{not json")
    with pytest.raises(UnreadableFileError, match="not valid JSON"):
        validate_scan(json_file, "tiff")
    shutil.rmtree(json_file.parent)
    with pytest.raises(UnreadableFileError, match="no such file"):
        validate_scan(json_file, "tiff")


def test_tiff_stack_without_flats_or_darks(tmp_path):
    json_file = _tiff(tmp_path / "f")
    spec = json.loads(json_file.read_text())
    del spec["flats"]
    json_file.write_text(json.dumps(spec))
    with pytest.raises(MissingReferenceError, match="no flat fields"):
        validate_scan(json_file, "tiff")


def test_unknown_format_name(tmp_path):
    with pytest.raises(ValueError, match="fmt must be one of"):
        validate_scan(tmp_path / "x", "zip")

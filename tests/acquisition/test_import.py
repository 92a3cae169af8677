"""Import of external scans: the good formats are stored; each bad input class is a 400
with a clear message and leaves nothing behind (no file, no staged copy, no record)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from acquisition import models as am
from acquisition.drivers.base import AcquisitionSettings, Frame, FrameType, ScanGeometry
from acquisition.formats import NXtomoWriter, read_scan, write_tiff_stack
from acquisition.formats.atomic import sha256_file
from acquisition.models import session_folder
from studies.datafiles import data_root
from studies.models import AuditEvent

pytestmark = pytest.mark.django_db

URL = "/api/v1/scans/import/"
GEOMETRY = {"sod_um": 25_000.0, "sdd_um": 250_000.0, "pixel_um": 44.0}
N, ROWS, COLS = 5, 4, 6
ANGLES = np.arange(N) * 36.0


def _stacks(dtype=np.uint16):
    rng = np.random.default_rng(7)
    projections = rng.integers(100, 4000, (N, ROWS, COLS)).astype(dtype)
    flats = np.full((2, ROWS, COLS), 5000, dtype=dtype)
    darks = np.full((2, ROWS, COLS), 100, dtype=dtype)
    return projections, flats, darks


def _nxtomo(path: Path) -> Path:
    projections, flats, darks = _stacks()
    geometry = ScanGeometry(GEOMETRY["sod_um"], GEOMETRY["sdd_um"], 44.0, ROWS, COLS, 2.5)
    settings = AcquisitionSettings(n_projections=N, n_flats=2, n_darks=2)
    with NXtomoWriter(path, frame_shape=(ROWS, COLS), geometry=geometry, settings=settings,
                      sample_name="external") as writer:  # fmt: skip
        for k, image in enumerate(darks):
            writer.append(Frame(image, 0.0, 0.0, FrameType.DARK, k))
        for k, image in enumerate(flats):
            writer.append(Frame(image, 0.0, 0.0, FrameType.FLAT, k))
        for k, image in enumerate(projections):
            writer.append(Frame(image, float(ANGLES[k]), 0.0, FrameType.PROJECTION, k))
        writer.commit()
    return path


def _dxchange(path: Path, *, data=None, theta="default", white=True, dark=True) -> Path:
    projections, flats, darks = _stacks()
    with h5py.File(path, "w") as f:
        f["exchange/data"] = projections if data is None else data
        if white:
            f["exchange/data_white"] = flats
        if dark:
            f["exchange/data_dark"] = darks
        if theta is not None:
            f["exchange/theta"] = ANGLES if isinstance(theta, str) else theta
    return path


def _upload(path: Path, name: str | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name or path.name, path.read_bytes())


def _post(world, fmt, upload, who="operator", **extra):
    body = {"session": world.session.pk, "format": fmt, "file": upload, **extra}
    return world.client(who).post(URL, body, format="multipart")


def _nothing_left(world) -> None:
    assert not am.Scan.objects.exists()
    assert not am.DoseRecord.objects.exists()
    folder = data_root() / session_folder(world.session)
    assert not folder.exists() or not any(folder.iterdir())
    staging = data_root() / ".staging"
    assert not staging.exists() or not any(staging.iterdir())
    world.session.refresh_from_db()
    assert world.session.state == "planned"


# --- good inputs ------------------------------------------------------------------------


def test_nxtomo_is_kept_byte_for_byte(world, tmp_path):
    source = _nxtomo(tmp_path / "ext.nxs")
    response = _post(world, "nxtomo", _upload(source), dose_mgy="120.5")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["sha256"] == sha256_file(source)
    assert (body["source"], body["format"], body["n_projections"], body["frame_shape"]) == (
        "imported",
        "nxtomo",
        N,
        [ROWS, COLS],
    )
    assert body["original_name"] == "ext.nxs"
    assert body["geometry"]["axis_pixel_position"] == 2.5
    world.session.refresh_from_db()
    assert world.session.state == "acquired"
    record = am.DoseRecord.objects.get()
    assert (record.kind, record.dose_mgy, record.scan_id) == ("external", 120.5, body["id"])


def test_dxchange_is_converted_to_nxtomo(world, tmp_path):
    source = _dxchange(tmp_path / "aps.h5")
    response = _post(world, "dxchange", _upload(source), geometry=json.dumps(GEOMETRY))
    assert response.status_code == 201, response.json()
    stored = data_root() / response.json()["relative_path"]
    scan = read_scan(stored)
    assert scan.format == "nxtomo"
    np.testing.assert_array_equal(scan.projections[:], _stacks()[0])
    np.testing.assert_array_equal(scan.angles_deg, ANGLES)
    assert scan.geometry.sdd_um == 250_000.0
    assert response.json()["format"] == "dxchange"


def test_tiff_zip_is_converted_to_nxtomo(world, tmp_path):
    projections, flats, darks = _stacks()
    folder = tmp_path / "stack"
    write_tiff_stack(folder, projections=projections, flats=flats, darks=darks,
                     angles_deg=ANGLES, geometry=GEOMETRY)  # fmt: skip
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for file in folder.iterdir():
            bundle.write(file, f"scan/{file.name}")
    response = _post(world, "tiff", SimpleUploadedFile("stack.zip", buffer.getvalue()))
    assert response.status_code == 201, response.json()
    scan = read_scan(data_root() / response.json()["relative_path"])
    np.testing.assert_array_equal(scan.flats, flats)
    np.testing.assert_array_equal(scan.projections[N - 1], projections[N - 1])


def test_management_command_imports_a_server_side_path(world, tmp_path):
    projections, flats, darks = _stacks()
    json_file = write_tiff_stack(tmp_path / "stack", projections=projections, flats=flats,
                                 darks=darks, angles_deg=ANGLES, geometry=GEOMETRY)  # fmt: skip
    call_command("import_scan", str(json_file), session=world.session.pk, format="tiff",
                 user="operator", reason="legacy data", stdout=io.StringIO())  # fmt: skip
    scan = am.Scan.objects.get()
    assert (scan.format, scan.n_projections, scan.created_by) == (
        "tiff",
        N,
        world.users["operator"],
    )
    assert json_file.exists()  # the source is only read


def test_management_command_refuses_bad_input_and_keeps_nothing(world, tmp_path):
    source = _dxchange(tmp_path / "bad.h5", theta=ANGLES[::-1])
    with pytest.raises(CommandError, match="nothing imported.*increase strictly"):
        call_command("import_scan", str(source), session=world.session.pk, format="dxchange",
                     geometry=json.dumps(GEOMETRY))  # fmt: skip
    _nothing_left(world)


# --- bad inputs: one per class -------------------------------------------------------------


def _truncated(tmp_path: Path) -> Path:
    whole = _nxtomo(tmp_path / "whole.nxs").read_bytes()
    cut = tmp_path / "cut.nxs"
    cut.write_bytes(whole[: len(whole) // 2])
    return cut


def _write(tmp_path: Path, name: str, payload: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(payload)
    return path


BAD_INPUTS = [
    ("not_hdf5", "nxtomo", lambda t: _write(t, "x.nxs", b"this is not HDF5" * 64), "not_readable",
     "not an HDF5 file"),
    ("truncated", "nxtomo", _truncated, "not_readable", "truncated"),
    ("wrong_dimensions", "dxchange", lambda t: _dxchange(t / "d.h5", data=np.zeros((4, 6), np.uint16)),
     "wrong_dimensions", "3-D"),
    ("missing_angles", "dxchange", lambda t: _dxchange(t / "d.h5", theta=None), "bad_angles",
     "angles are missing"),
    ("non_monotonic_angles", "dxchange",
     lambda t: _dxchange(t / "d.h5", theta=np.array([0.0, 36, 72, 50, 144])), "bad_angles",
     "increase strictly"),
    ("unsupported_dtype", "dxchange",
     lambda t: _dxchange(t / "d.h5", data=np.zeros((N, ROWS, COLS), np.int16)),
     "unsupported_dtype", "int16"),
    ("missing_flats", "dxchange", lambda t: _dxchange(t / "d.h5", white=False),
     "missing_flats_or_darks", "no flat fields"),
    ("missing_darks", "dxchange", lambda t: _dxchange(t / "d.h5", dark=False),
     "missing_flats_or_darks", "no dark fields"),
    ("tiff_not_a_zip", "tiff", lambda t: _write(t, "s.zip", b"PK? no"), "not_readable", "zip"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fmt", "make", "code", "words"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_each_bad_input_is_400_and_leaves_nothing(world, tmp_path, fmt, make, code, words):
    upload = _upload(make(tmp_path))
    response = _post(world, fmt, upload, geometry=json.dumps(GEOMETRY))
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == code
    assert words in body["file"][0]
    assert body["detail"] == "Nothing was imported."
    _nothing_left(world)


def test_dxchange_without_geometry_is_400(world, tmp_path):
    response = _post(world, "dxchange", _upload(_dxchange(tmp_path / "d.h5")))
    assert response.status_code == 400
    assert response.json()["code"] == "geometry_missing"
    _nothing_left(world)


def test_tiff_zip_without_geometry_json_is_400(world, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("projections.tif", b"II*\x00")
    response = _post(world, "tiff", SimpleUploadedFile("s.zip", buffer.getvalue()))
    assert response.status_code == 400
    assert "one geometry.json" in response.json()["file"][0]
    _nothing_left(world)


def test_zip_member_leaving_its_folder_is_refused(world, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("../../escape.json", b"{}")
    response = _post(world, "tiff", SimpleUploadedFile("s.zip", buffer.getvalue()))
    assert response.status_code == 400
    assert "leaves its folder" in response.json()["file"][0]
    assert not (data_root() / "escape.json").exists()
    _nothing_left(world)


# --- who may ------------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "status"), [("viewer", 403), ("outsider", 400)])
def test_import_needs_an_operator_of_the_study(world, tmp_path, who, status):
    response = _post(world, "nxtomo", _upload(_nxtomo(tmp_path / "e.nxs")), who=who)
    assert response.status_code == status
    _nothing_left(world)


def test_import_into_a_queued_session_is_refused(world, tmp_path, protocol):
    from acquisition import jobs

    jobs.request_acquisition(world.session, protocol, user=world.users["operator"])
    response = _post(world, "nxtomo", _upload(_nxtomo(tmp_path / "e.nxs")))
    assert response.status_code == 400
    assert "The session is queued" in response.json()["session"][0]
    assert not am.Scan.objects.exists()


# --- the dose budget ----------------------------------------------------------------------


def _book_earlier_dose(world, dose_mgy: float) -> None:
    am.DoseRecord.objects.create(
        animal=world.animal, site=world.session.site, dose_mgy=dose_mgy, kind="external"
    )


def test_import_past_the_dose_budget_is_400_naming_the_budget(world, tmp_path):
    _book_earlier_dose(world, 1400.0)  # the study's budget is 1500 mGy per animal and site
    response = _post(world, "nxtomo", _upload(_nxtomo(tmp_path / "e.nxs")), dose_mgy="120.5")
    assert response.status_code == 400
    message = response.json()["dose_mgy"][0]
    assert "to 1520.5 mGy, past the study's budget of 1500.0 mGy" in message
    assert "1400.0 mGy already committed, 100.0 mGy remaining" in message
    assert not am.Scan.objects.exists()
    assert am.DoseRecord.objects.count() == 1  # only the earlier booking
    world.session.refresh_from_db()
    assert world.session.state == "planned"


def test_import_within_the_budget_needs_no_override(world, tmp_path):
    _book_earlier_dose(world, 1400.0)
    response = _post(world, "nxtomo", _upload(_nxtomo(tmp_path / "e.nxs")), dose_mgy="100")
    assert response.status_code == 201, response.json()
    assert am.DoseRecord.objects.get(scan=response.json()["id"]).dose_mgy == 100.0


def test_an_investigator_overrides_the_budget_with_an_audited_reason(world, tmp_path):
    _book_earlier_dose(world, 1400.0)
    upload = _upload(_nxtomo(tmp_path / "e.nxs"))
    reason = "scanned at the partner lab before the budget was lowered"
    response = _post(
        world, "nxtomo", upload, who="investigator", dose_mgy="120.5", override_reason=reason
    )
    assert response.status_code == 201, response.json()
    record = am.DoseRecord.objects.get(scan=response.json()["id"])
    assert record.dose_mgy == 120.5
    assert record.note == f"imported e.nxs; over budget, overridden: {reason}"
    event = AuditEvent.objects.get(model="acquisition.doserecord", object_id=str(record.pk))
    assert (event.action, event.reason, event.username) == ("create", reason, "investigator")


def test_an_operator_may_not_override_the_budget(world, tmp_path):
    _book_earlier_dose(world, 1400.0)
    upload = _upload(_nxtomo(tmp_path / "e.nxs"))
    response = _post(world, "nxtomo", upload, dose_mgy="120.5", override_reason="urgent")
    assert response.status_code == 403
    assert not am.Scan.objects.exists()


def test_management_command_obeys_the_budget(world, tmp_path):
    _book_earlier_dose(world, 1400.0)
    source = _nxtomo(tmp_path / "e.nxs")
    options = {"session": world.session.pk, "format": "nxtomo", "dose_mgy": 120.5}
    with pytest.raises(CommandError, match="nothing imported.*past the study's budget of 1500"):
        call_command("import_scan", str(source), **options)
    assert not am.Scan.objects.exists()
    call_command("import_scan", str(source), override_reason="legacy", stdout=io.StringIO(),
                 **options)  # fmt: skip
    assert am.DoseRecord.objects.get(scan__isnull=False).note.endswith("overridden: legacy")

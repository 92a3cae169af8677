"""The integrity check: every data file's sha256 against its record; bad files flagged, kept."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.utils import timezone

from acquisition.models import Scan
from nanoscope_web.integrity import check_integrity
from nanoscope_web.models import IntegrityCheck
from nanoscope_web.tasks import check_integrity as check_integrity_task
from recon.models import Volume
from studies import models as m
from studies.datafiles import absolute
from studies.vocabulary import JobState
from tests.conftest import wait_until
from tests.studies.conftest import make_user

KIND = "data-integrity"


def _write(relative: str, content: bytes) -> str:
    path = absolute(relative)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return hashlib.sha256(content).hexdigest()


@pytest.fixture
def files(db):
    """One study with a raw scan (and its ground truth), a volume and an export on disk."""
    study = m.Study.objects.create(
        title="Integrity", ethics_licence="L-7", principal_investigator="PI",
        start_date=timezone.localdate() - dt.timedelta(days=5),
    )  # fmt: skip
    viewer = make_user("integrity-viewer")
    m.Membership.objects.create(study=study, user=viewer, role="viewer")
    animal = m.Animal.objects.create(study=study, label="I01", sex="female")
    session = m.ScanSession.objects.create(
        animal=animal, site="tibia-right-proximal", planned_at=timezone.now()
    )
    folder = f"study-{study.pk}/animal-{animal.pk}/session-{session.pk}"
    # bulk_create: no post_save, so no automatic reconstruction or analysis of fake files.
    [scan] = Scan.objects.bulk_create([Scan(
        session=session, source="imported", format="nxtomo",
        relative_path=f"{folder}/scan.h5", sha256=_write(f"{folder}/scan.h5", b"raw frames"),
        size_bytes=10, n_frames=4, n_projections=2, frame_shape=[2, 2],
        truth_relative_path=f"{folder}/scan.truth.h5",
        truth_sha256=_write(f"{folder}/scan.truth.h5", b"phantom"),
    )])  # fmt: skip
    [volume] = Volume.objects.bulk_create([Volume(
        session=session, relative_path=f"{folder}/volume.h5",
        sha256=_write(f"{folder}/volume.h5", b"voxels"), size_bytes=6,
        shape=[2, 2, 2], voxel_size_um=10.0, units="1/cm", n_levels=1,
    )])  # fmt: skip
    export = m.StudyExport.objects.create(
        study=study, state=JobState.DONE, relative_path=f"study-{study.pk}/export.zip",
        sha256=_write(f"study-{study.pk}/export.zip", b"zip"), size_bytes=3,
    )  # fmt: skip
    return {
        "study": study, "viewer": viewer, "session": session,
        "scan": scan, "volume": volume, "export": export,
    }  # fmt: skip


def flags(study):
    return {f.subject: f for f in m.Flag.objects.filter(study=study, kind=KIND)}


@pytest.mark.django_db
def test_intact_files_raise_nothing(files):
    summary = check_integrity()
    assert summary["checked"] == 4  # scan, its ground truth, volume, export
    assert summary["intact"] == 4
    assert summary["missing"] == summary["altered"] == summary["raised"] == 0
    assert flags(files["study"]) == {}
    run = IntegrityCheck.objects.get(pk=summary["run"])
    assert (run.checked, run.intact, run.problems) == (4, 4, 0)
    assert run.started_at <= run.finished_at


@pytest.mark.django_db
def test_an_altered_scan_is_flagged_and_left_as_it_is(files):
    scan = files["scan"]
    absolute(scan.relative_path).write_bytes(b"raw frameZ")
    summary = check_integrity()
    assert (summary["altered"], summary["missing"], summary["raised"]) == (1, 0, 1)
    flag = flags(files["study"])[f"scan:{scan.pk}"]
    assert flag.severity == "critical"
    assert flag.scan_session_id == files["session"].pk
    assert "altered" in flag.message and scan.sha256[:16] in flag.message
    assert absolute(scan.relative_path).read_bytes() == b"raw frameZ"  # never repaired
    scan.refresh_from_db()
    assert scan.sha256 == hashlib.sha256(b"raw frames").hexdigest()


@pytest.mark.django_db
def test_missing_files_of_each_kind_are_flagged_once(files):
    absolute(files["volume"].relative_path).unlink()
    absolute(files["export"].relative_path).unlink()
    absolute(files["scan"].truth_relative_path).unlink()
    first = check_integrity()
    again = check_integrity()
    assert (first["missing"], first["raised"]) == (3, 3)
    assert (again["missing"], again["raised"], again["reopened"]) == (3, 0, 0)
    study = files["study"]
    assert set(flags(study)) == {
        f"volume:{files['volume'].pk}",
        f"export:{files['export'].pk}",
        f"scan-truth:{files['scan'].pk}",
    }
    assert m.Flag.objects.filter(study=study, kind=KIND).count() == 3
    assert all("missing" in f.message for f in flags(study).values())


@pytest.mark.django_db
def test_a_restored_file_clears_its_flag_only_once_acknowledged(files):
    volume = files["volume"]
    path = absolute(volume.relative_path)
    path.unlink()
    check_integrity()
    path.write_bytes(b"voxels")  # restored from backup
    assert check_integrity()["resolved"] == 0  # a person must have seen it
    flag = flags(files["study"])[f"volume:{volume.pk}"]
    assert flag.resolved_at is None
    m.Flag.objects.filter(pk=flag.pk).update(acknowledged_at=timezone.now())
    assert check_integrity()["resolved"] == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_integrity_check_on_the_worker_flags_an_altered_volume_in_the_api(files, celery_worker):
    from rest_framework.test import APIClient

    volume = files["volume"]
    absolute(volume.relative_path).write_bytes(b"voxelz")
    check_integrity_task.delay()
    client = APIClient()
    client.force_authenticate(files["viewer"])

    def open_flags():
        query = {"study": files["study"].pk, "kind": KIND, "open": "true"}
        return client.get("/api/v1/flags/", query).json()["results"]

    [flag] = wait_until(open_flags, 60)
    assert flag["subject"] == f"volume:{volume.pk}"
    assert flag["scan_session"] == files["session"].pk
    event = m.AuditEvent.objects.get(model="studies.flag", object_id=str(flag["id"]))
    assert (event.source, event.reason) == ("task", "scheduled integrity check")

    staff = make_user("integrity-staff")
    staff.is_staff = True
    staff.save()
    client.force_authenticate(staff)
    # The run is stored once every flag is synced: wait for it too.
    [run] = wait_until(lambda: client.get("/api/v1/integrity-checks/").json()["results"], 30)
    assert (run["checked"], run["altered"], run["missing"], run["raised"]) == (4, 1, 0, 1)
    client.force_authenticate(files["viewer"])
    assert client.get("/api/v1/integrity-checks/").status_code == 403

"""Study export through the API, run by a real Celery worker on the real Redis broker."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest

from studies import models as m
from tests.conftest import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_export_runs_on_worker_and_checksums_match(world, celery_worker):
    client = world.client("viewer")
    response = client.post("/api/v1/exports/", {"study": world.study.pk}, format="json")
    assert response.status_code == 201
    export_id = response.json()["id"]

    def finished():
        export = m.StudyExport.objects.get(pk=export_id)
        return export if export.state in ("done", "failed") else None

    export = wait_until(finished, timeout_s=90)
    assert export.state == "done", export.error
    assert export.progress == 1.0
    assert export.worker and export.task_id  # set by the worker that ran it

    download = client.get(f"/api/v1/exports/{export_id}/download/")
    assert download.status_code == 200
    payload = b"".join(download.streaming_content)
    assert hashlib.sha256(payload).hexdigest() == export.sha256 == download["X-Checksum-SHA256"]

    archive = zipfile.ZipFile(io.BytesIO(payload))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["study"]["id"] == world.study.pk
    for name, entry in manifest["files"].items():
        assert hashlib.sha256(archive.read(name)).hexdigest() == entry["sha256"], name
    animals = json.loads(archive.read("animals.json"))
    assert [row["label"] for row in animals] == ["M01"]  # study B's animal is not in it
    assert manifest["files"]["animals.csv"]["rows"] == 1


def test_outsider_cannot_download(world):
    export = m.StudyExport.objects.create(study=world.study, state="done")
    response = world.client("outsider").get(f"/api/v1/exports/{export.pk}/download/")
    assert response.status_code == 404


def test_unfinished_export_is_409(world):
    export = m.StudyExport.objects.create(study=world.study)
    response = world.client("owner").get(f"/api/v1/exports/{export.pk}/download/")
    assert response.status_code == 409

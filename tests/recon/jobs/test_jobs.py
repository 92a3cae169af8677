"""Reconstruction records and jobs: automatic start, real workers, slab-parallel, the API."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from acquisition import models as am
from acquisition.formats import read_scan
from recon import jobs, pipeline
from recon import models as rm
from recon.volume_store import read_slice
from studies.datafiles import absolute
from studies.vocabulary import JobState, SessionState
from tests.conftest import (
    start_worker,
    stop_worker,
    wait_for_worker,
    wait_until,
    worker_environment,
)
from tests.recon.scans import AXIS_OFFSET_PX, COLS, ROWS, simulated_scan, write_nxtomo
from tests.studies import conftest as studies_fixtures
from tests.studies.conftest import World

world = studies_fixtures.world  # the studies' small world of records, as a fixture here

SCAN = simulated_scan(n_angles=120)


def _scan_record(world: World) -> am.Scan:
    """An acquired-looking scan: the NXtomo file under the data root and its record."""
    session = world.session
    relative = f"study-{world.study.pk}/animal-{world.animal.pk}/session-{session.pk}/scan.nxs"
    path = absolute(relative)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    sha256, n_frames = write_nxtomo(SCAN, path)
    type(session).objects.filter(pk=session.pk).update(state=SessionState.ACQUIRED)
    return am.Scan.objects.create(
        session=session, source="imported", format="nxtomo", relative_path=relative,
        sha256=sha256, size_bytes=path.stat().st_size, n_frames=n_frames,
        n_projections=SCAN.n_projections, frame_shape=[ROWS, COLS],
    )  # fmt: skip


def _finished(rec_id: int):
    rec = rm.Reconstruction.objects.get(pk=rec_id)
    return rec if rec.state in (JobState.DONE, JobState.FAILED, JobState.CANCELLED) else None


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_landed_scan_is_reconstructed_on_the_worker(world, celery_worker):
    scan = _scan_record(world)
    rec = wait_until(lambda: rm.Reconstruction.objects.filter(scan=scan).first(), timeout_s=10)
    assert rec.automatic

    rec = wait_until(lambda: _finished(rec.pk), timeout_s=180)
    assert rec.state == JobState.DONE, rec.error
    assert rec.centre_source == "found"
    assert rec.axis_offset_px == pytest.approx(AXIS_OFFSET_PX, abs=0.25)
    assert rec.backend == "cpu" and rec.worker.startswith("tests@")
    assert rec.shape == [ROWS, COLS, COLS]
    assert set(rec.timings) >= {"preprocess_s", "reconstruct_s", "total_s"}
    volume = rec.volume
    assert hashlib.sha256(absolute(volume.relative_path).read_bytes()).hexdigest() == volume.sha256
    world.session.refresh_from_db()
    # Analysis may already have moved it on to `analysed`.
    assert world.session.state in (SessionState.RECONSTRUCTED, SessionState.ANALYSED)

    client = world.client("viewer")
    listed = client.get("/api/v1/volumes/", {"study": world.study.pk}).json()["results"]
    assert [v["id"] for v in listed] == [volume.pk]
    meta = client.get(f"/api/v1/volumes/{volume.pk}/metadata/").json()
    assert meta["shapes"][0] == [ROWS, COLS, COLS]
    assert meta["provenance"]["source_sha256"] == scan.sha256
    assert world.client("outsider").get(f"/api/v1/volumes/{volume.pk}/").status_code == 404


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_two_workers_split_one_reconstruction_into_slabs(
    world, celery_app, data_root, postgres, tmp_path
):
    """Two extra worker processes (standing in for two hosts) share one volume's slabs."""
    from django.db import connection

    url = postgres.url(connection.settings_dict["NAME"])
    env = worker_environment(url, celery_app.conf.broker_url, data_root)
    workers = [start_worker(env, "gpu", name, "--pool", "solo") for name in ("host-a", "host-b")]
    try:
        for name, process in zip(("host-a", "host-b"), workers, strict=True):
            wait_for_worker(celery_app, name, process)
        scan = _scan_record(world)
        automatic = wait_until(lambda: rm.Reconstruction.objects.filter(scan=scan).first(), 10)
        wait_until(lambda: _finished(automatic.pk), timeout_s=180)

        response = world.client("investigator").post(
            "/api/v1/reconstructions/",
            {"scan": scan.pk, "n_slabs": 4, "parameters": {"axis_offset_px": 1.5}},
            format="json",
        )
        assert response.status_code == 201, response.content
        rec = wait_until(lambda: _finished(response.json()["id"]), timeout_s=240)
    finally:
        for process in workers:
            stop_worker(process)

    assert rec.state == JobState.DONE, rec.error
    slabs = list(rec.slabs.all())
    assert [(s.z_start, s.z_stop) for s in slabs] == [(0, 10), (10, 20), (20, 30), (30, 40)]
    hosts = {s.worker.split("@")[0] for s in slabs}
    assert len(hosts) >= 2, [s.worker for s in slabs]
    # The assembled volume equals a one-piece reconstruction with the same centre.
    params = pipeline.ReconstructionParameters(axis_offset_px=1.5, backend="cpu")
    whole = tmp_path / "whole.h5"
    pipeline.reconstruct_scan(
        read_scan(absolute(scan.relative_path)), whole, params, scratch_dir=tmp_path
    )
    for axis, index in ((0, 9), (0, 10), (1, 31)):
        np.testing.assert_allclose(
            read_slice(absolute(rec.volume.relative_path), axis, index),
            read_slice(whole, axis, index),
            rtol=1e-5, atol=1e-5,
        )  # fmt: skip
    assert not absolute(jobs.work_relative_folder(rec)).exists()


@pytest.mark.django_db
def test_rerun_keeps_the_earlier_result_and_a_redelivered_task_does_nothing(world):
    scan = _scan_record(world)  # on_commit does not fire here: nothing is queued
    first = jobs.start_reconstruction(scan, parameters={"backend": "cpu"})
    assert jobs.run_reconstruction(first.pk) == JobState.DONE
    assert jobs.run_reconstruction(first.pk) == JobState.DONE  # re-delivered: no second run
    assert rm.Volume.objects.count() == 1

    second = jobs.start_reconstruction(scan, parameters={"backend": "cpu", "filter": "ram-lak"})
    jobs.run_reconstruction(second.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.volume_id != second.volume_id and rm.Volume.objects.count() == 2
    assert absolute(first.volume.relative_path).exists()
    assert second.parameters["filter"] == "ram-lak"


@pytest.mark.django_db
def test_cancelled_job_is_not_run(world):
    scan = _scan_record(world)
    rec = jobs.start_reconstruction(scan)
    rec.cancel()
    assert jobs.run_reconstruction(rec.pk) == JobState.CANCELLED
    assert rm.Volume.objects.count() == 0
    with pytest.raises(ValueError, match="already finished"):
        rm.Reconstruction.objects.get(pk=rec.pk).cancel()


@pytest.mark.django_db
def test_missing_scan_file_fails_with_a_message(world):
    scan = _scan_record(world)
    absolute(scan.relative_path).unlink()
    rec = jobs.start_reconstruction(scan)
    assert jobs.run_reconstruction(rec.pk) == JobState.FAILED
    rec.refresh_from_db()
    assert "scan.nxs" in rec.error
    assert rm.Volume.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "status"),
    [("owner", 201), ("investigator", 201), ("operator", 403), ("viewer", 403), ("outsider", 400)],
)
def test_who_may_start_a_reconstruction(world, who, status):
    scan = _scan_record(world)
    response = world.client(who).post("/api/v1/reconstructions/", {"scan": scan.pk}, format="json")
    assert response.status_code == status, response.content


@pytest.mark.django_db
def test_bad_parameters_are_400_and_nothing_is_written(world):
    scan = _scan_record(world)
    client = world.client("investigator")
    response = client.post(
        "/api/v1/reconstructions/",
        {"scan": scan.pk, "parameters": {"algorithm": "art"}, "n_slabs": 0},
        format="json",
    )
    assert response.status_code == 400
    assert "algorithm" in str(response.json()["parameters"])
    assert "n_slabs" in response.json()
    assert rm.Reconstruction.objects.count() == 0


@pytest.mark.django_db
def test_foreign_reconstruction_is_404_and_viewer_cannot_cancel(world):
    scan = _scan_record(world)
    rec = jobs.start_reconstruction(scan)
    assert world.client("outsider").get(f"/api/v1/reconstructions/{rec.pk}/").status_code == 404
    assert (
        world.client("viewer").post(f"/api/v1/reconstructions/{rec.pk}/cancel/").status_code == 403
    )
    response = world.client("investigator").post(f"/api/v1/reconstructions/{rec.pk}/cancel/")
    assert response.status_code == 200 and response.json()["state"] == JobState.CANCELLED

"""At most once with real Celery worker processes on the real Redis broker.

* a duplicated message, taken by two workers at the same time, scans once;
* a worker killed (SIGKILL) mid-scan leaves the session ``interrupted`` after the lease
  sweep, no file that looks complete, the partial dose booked, and no message that the
  broker could hand to another worker.

Each test starts its own workers on a private queue, so the session worker of other
tests never takes these messages.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal

import pytest
import redis
from django.utils import timezone

from acquisition import jobs
from acquisition import models as am
from acquisition.tasks import run_acquisition
from studies.datafiles import absolute
from studies.models import ScanSession
from tests.conftest import (
    start_worker,
    stop_worker,
    wait_for_worker,
    wait_until,
    worker_environment,
)

from .conftest import TINY_DOSE_MGY

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture
def private_workers(django_db_setup, postgres, celery_app, data_root):
    """Start workers on a private queue: ``start(queue, name)``; all stopped afterwards."""
    if postgres is None:
        pytest.skip("workers need the shared PostgreSQL test database")
    from django.db import connection

    url = postgres.url(connection.settings_dict["NAME"])
    env = worker_environment(url, celery_app.conf.broker_url, data_root)
    started = []

    def start(queue: str, name: str):
        process = start_worker(env, queue, name, "--pool", "solo")
        started.append(process)
        wait_for_worker(celery_app, name, process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            stop_worker(process)


def _folder_files(job) -> list[str]:
    folder = absolute(jobs.scan_relative_path(job)).parent
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _request(world, protocol, *, paced: bool) -> am.AcquisitionJob:
    return jobs.request_acquisition(
        world.session, protocol, user=world.users["operator"], paced=paced
    )


def test_duplicated_task_on_two_workers_scans_once(world, protocol, private_workers, celery_app):
    private_workers("acq-dup", "dup-a")
    private_workers("acq-dup", "dup-b")
    job = _request(world, protocol, paced=False)
    for _ in range(2):  # the same job delivered twice, one message per worker
        run_acquisition.apply_async((job.pk,), queue="acq-dup")

    def finished():
        job.refresh_from_db()
        return job.is_finished and job.state

    assert wait_until(finished, timeout_s=120) == "done"
    broker = redis.Redis.from_url(celery_app.conf.broker_url)
    wait_until(lambda: broker.llen("acq-dup") == 0 and not broker.hlen("unacked"), 60)
    wait_until(lambda: not any((celery_app.control.inspect(timeout=1).active() or {}).values()), 60)
    assert am.Scan.objects.filter(session=world.session).count() == 1
    records = am.DoseRecord.objects.filter(animal=world.animal)
    assert [r.dose_mgy for r in records] == [pytest.approx(TINY_DOSE_MGY)]
    assert _folder_files(job) == [f"scan-{job.pk}.nxs", f"scan-{job.pk}.truth.h5"]
    assert job.worker.startswith(("dup-a", "dup-b")) or ":" in job.worker


def _redeliver_unacked(broker, queue: str) -> int:
    """Put unacknowledged messages back on their queue, as kombu's visibility timeout does."""
    moved = 0
    for tag, raw in broker.hgetall("unacked").items():
        payload, _exchange, routing_key = json.loads(raw)
        if routing_key == queue:
            broker.lpush(queue, json.dumps(payload))
            broker.hdel("unacked", tag)
            broker.zrem("unacked_index", tag)
            moved += 1
    return moved


def test_worker_killed_mid_scan_is_interrupted_not_rescanned(
    world, protocol, private_workers, celery_app
):
    worker = private_workers("acq-kill", "killed")
    job = _request(world, protocol, paced=True)  # 3 frames/s: about 5 s for 16 frames
    run_acquisition.apply_async((job.pk,), queue="acq-kill")

    def some_projections():
        job.refresh_from_db()
        return job.projections_done >= 2

    wait_until(some_projections, timeout_s=120, interval_s=0.05)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)
    job.refresh_from_db()
    world.session.refresh_from_db()
    assert (job.state, world.session.state) == ("running", "acquiring")  # nobody knows yet
    assert not absolute(jobs.scan_relative_path(job)).exists()  # at most a .partial file

    # The broker hands the message to another worker (a solo worker acknowledges only
    # after its task returns, so a killed one leaves it unacknowledged): nothing happens.
    broker = redis.Redis.from_url(celery_app.conf.broker_url)
    assert _redeliver_unacked(broker, "acq-kill") == 1
    private_workers("acq-kill", "second")
    wait_until(lambda: broker.llen("acq-kill") == 0 and not broker.hlen("unacked"), 120)
    frames_at_kill = job.frames_done
    job.refresh_from_db()
    assert (job.state, job.frames_done) == ("running", frames_at_kill)  # not scanned again

    assert jobs.sweep_expired_leases() == []  # the lease has not expired yet
    later = timezone.now() + dt.timedelta(seconds=jobs.LEASE_S + 1)
    assert jobs.sweep_expired_leases(now=later) == [job.pk]
    job.refresh_from_db()
    world.session.refresh_from_db()
    assert (job.state, world.session.state) == ("interrupted", "interrupted")
    assert _folder_files(job) == []  # the partial file was removed, no final one exists
    record = am.DoseRecord.objects.get(job=job)
    assert record.projections_delivered == job.projections_done >= 2
    assert record.dose_mgy == pytest.approx(TINY_DOSE_MGY * job.projections_done / 12)
    assert am.Scan.objects.filter(job=job).count() == 0
    # Only a person re-queues it, as a new job.
    assert jobs.execute(job.pk, owner="late").state == "interrupted"


def _job(job_id: int) -> am.AcquisitionJob:
    return am.AcquisitionJob.objects.get(pk=job_id)


def test_api_pause_resume_and_abort_on_the_worker(world, protocol, celery_worker):
    client = world.client("operator")
    body = {"session": world.session.pk, "protocol": protocol.pk, "paced": True}
    job_id = client.post("/api/v1/acquisitions/", body, format="json").json()["id"]
    wait_until(lambda: _job(job_id).frames_done >= 3, timeout_s=120, interval_s=0.05)
    assert client.post(f"/api/v1/acquisitions/{job_id}/pause/").status_code == 200
    paused = wait_until(lambda: _job(job_id).state == "paused" and _job(job_id), 60)
    live = client.get(f"/api/v1/acquisitions/{job_id}/").json()
    assert live["state"] == "paused"
    assert 3 <= live["frames_done"] < live["frames_total"] == 16
    assert live["frame_rate_achieved_hz"] > 0
    assert client.post(f"/api/v1/acquisitions/{job_id}/resume/").status_code == 200
    done = wait_until(lambda: _job(job_id).is_finished and _job(job_id), 120)
    assert (done.state, done.frames_done) == ("done", 16)
    assert done.frames_done > paused.frames_done
    assert absolute(am.Scan.objects.get(job=done).relative_path).exists()

    # The next time point: abort it half-way; no file that looks complete remains.
    second = ScanSession.objects.create(
        animal=world.animal, site=world.session.site, planned_at=world.session.planned_at
    )
    body["session"] = second.pk
    job_id = client.post("/api/v1/acquisitions/", body, format="json").json()["id"]
    wait_until(lambda: _job(job_id).projections_done >= 2, timeout_s=120, interval_s=0.05)
    assert client.post(f"/api/v1/acquisitions/{job_id}/abort/").status_code == 200
    aborted = wait_until(lambda: _job(job_id).is_finished and _job(job_id), 60)
    second.refresh_from_db()
    assert (aborted.state, second.state) == ("cancelled", "aborted")
    assert _folder_files(aborted) == []
    record = am.DoseRecord.objects.get(job=aborted)
    assert record.projections_delivered == aborted.projections_done < 12

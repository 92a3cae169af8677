"""The stale-job sweep: idempotent jobs of dead workers re-queued, forgotten ones re-sent."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from acquisition.models import Scan
from analysis.models import AnalysisJob
from analysis.tasks import analyse
from nanoscope_web.stale_jobs import RESEND_QUEUED_AFTER, sweep_stale_jobs
from nanoscope_web.tasks import sweep_stale_jobs as sweep_task
from recon import jobs as recon_jobs
from recon.models import Reconstruction, Volume
from recon.tasks import reconstruct
from studies import models as m
from studies.datafiles import absolute
from studies.vocabulary import JobState, SessionState
from tests.conftest import wait_until
from tests.recon.scans import simulated_scan, write_nxtomo
from tests.studies.conftest import World

MINUTE = dt.timedelta(minutes=1)


def _scan(world: World, *, real: bool = False) -> Scan:
    """A scan record (its NXtomo file written when ``real``), made without signals."""
    session = world.session
    relative = f"study-{world.study.pk}/animal-{world.animal.pk}/session-{session.pk}/scan.nxs"
    sha256, n_frames, size = "0" * 64, 1, 1
    if real:
        path = absolute(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        sha256, n_frames = write_nxtomo(simulated_scan(n_angles=60), path)
        size = path.stat().st_size
        m.ScanSession.objects.filter(pk=session.pk).update(state=SessionState.ACQUIRED)
    # bulk_create: no post_save, so no automatic reconstruction starts behind the test.
    [scan] = Scan.objects.bulk_create([Scan(
        session=session, source="imported", format="nxtomo", relative_path=relative,
        sha256=sha256, size_bytes=size, n_frames=n_frames, n_projections=60,
        frame_shape=[40, 64],
    )])  # fmt: skip
    return scan


def _reconstruction(scan: Scan, state: str, *, idle: dt.timedelta, **fields) -> Reconstruction:
    """A reconstruction in ``state`` whose last heartbeat (or creation) was ``idle`` ago."""
    rec = Reconstruction.objects.create(scan=scan, worker="dead-host@x", **fields)
    then = timezone.now() - idle
    beat = then if state == JobState.RUNNING else None
    Reconstruction.objects.filter(pk=rec.pk).update(state=state, heartbeat_at=beat, created_at=then)
    return rec


@pytest.fixture
def sent(monkeypatch):
    """The tasks the sweep sends, as ``[(task name, job id)]`` (nothing reaches a broker)."""
    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(reconstruct, "delay", lambda pk: calls.append(("reconstruct", pk)))
    monkeypatch.setattr(analyse, "delay", lambda pk: calls.append(("analyse", pk)))
    return calls


def _state(job) -> str:
    return type(job).objects.values_list("state", flat=True).get(pk=job.pk)


@pytest.mark.django_db
def test_a_stale_reconstruction_is_requeued_sent_again_and_audited(
    world, sent, django_capture_on_commit_callbacks
):
    scan = _scan(world)
    stale = _reconstruction(scan, JobState.RUNNING, idle=recon_jobs.STALE_AFTER + MINUTE)
    alive = _reconstruction(scan, JobState.RUNNING, idle=recon_jobs.STALE_AFTER - MINUTE)
    with django_capture_on_commit_callbacks(execute=True):
        summary = sweep_stale_jobs()
    assert summary["reconstruction"] == {"requeued": [stale.pk], "resent": []}
    assert sent == [("reconstruct", stale.pk)]
    assert (_state(stale), _state(alive)) == (JobState.QUEUED, JobState.RUNNING)
    event = m.AuditEvent.objects.get(model="recon.reconstruction", object_id=str(stale.pk))
    assert event.changes == {"state": ["running", "queued"]}
    assert event.source == "task" and "dead-host@x sent no heartbeat" in event.reason
    assert event.study_id == world.study.pk


@pytest.mark.django_db
def test_slab_parallel_and_cancelled_jobs_are_not_requeued(
    world, sent, django_capture_on_commit_callbacks
):
    scan = _scan(world)
    idle = recon_jobs.STALE_AFTER + MINUTE
    slabbed = _reconstruction(scan, JobState.RUNNING, idle=idle, n_slabs=2)
    cancelled = _reconstruction(scan, JobState.RUNNING, idle=idle, cancel_requested=True)
    with django_capture_on_commit_callbacks(execute=True):
        sweep_stale_jobs()
    assert sent == []
    assert (_state(slabbed), _state(cancelled)) == (JobState.RUNNING, JobState.RUNNING)


@pytest.mark.django_db
def test_a_forgotten_queued_job_is_sent_again_once_per_period(
    world, sent, django_capture_on_commit_callbacks
):
    scan = _scan(world)
    fresh = _reconstruction(scan, JobState.QUEUED, idle=RESEND_QUEUED_AFTER - 10 * MINUTE)
    forgotten = _reconstruction(scan, JobState.QUEUED, idle=RESEND_QUEUED_AFTER + MINUTE)
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        first = sweep_stale_jobs(now=now)
        second = sweep_stale_jobs(now=now + MINUTE)
        later = sweep_stale_jobs(now=now + RESEND_QUEUED_AFTER + MINUTE)
    assert first["reconstruction"]["resent"] == [forgotten.pk]
    assert second["reconstruction"]["resent"] == []
    assert later["reconstruction"]["resent"] == [fresh.pk, forgotten.pk]
    assert [pk for _, pk in sent] == [forgotten.pk, fresh.pk, forgotten.pk]
    assert _state(forgotten) == JobState.QUEUED


@pytest.mark.django_db
def test_analysis_jobs_use_their_own_staleness_limit(
    world, sent, django_capture_on_commit_callbacks
):
    from analysis.jobs import STALE_AFTER

    scan = _scan(world)
    [volume] = Volume.objects.bulk_create([Volume(
        session=scan.session, relative_path="v.h5", sha256="0" * 64, size_bytes=1,
        shape=[1, 1, 1], voxel_size_um=10.0, units="1/cm", n_levels=1,
    )])  # fmt: skip
    jobs = {}
    for name, idle in (("stale", STALE_AFTER + MINUTE), ("slow", STALE_AFTER - MINUTE)):
        job = AnalysisJob.objects.create(kind="morphometry", volume=volume)
        beat = timezone.now() - idle
        AnalysisJob.objects.filter(pk=job.pk).update(state=JobState.RUNNING, heartbeat_at=beat)
        jobs[name] = job
    assert STALE_AFTER - MINUTE > recon_jobs.STALE_AFTER  # "slow" would be stale as a recon
    with django_capture_on_commit_callbacks(execute=True):
        summary = sweep_stale_jobs()
    assert summary["analysis"] == {"requeued": [jobs["stale"].pk], "resent": []}
    assert sent == [("analyse", jobs["stale"].pk)]
    assert _state(jobs["slow"]) == JobState.RUNNING


@pytest.mark.django_db
def test_a_naive_clock_is_refused():
    with pytest.raises(ValueError, match="now must be an aware datetime"):
        sweep_stale_jobs(now=dt.datetime(2026, 1, 1, 12, 0))


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_stale_reconstruction_is_finished_by_the_worker_after_the_sweep(world, celery_worker):
    scan = _scan(world, real=True)
    rec = _reconstruction(scan, JobState.RUNNING, idle=recon_jobs.STALE_AFTER + MINUTE)
    sweep_task.delay()
    client = world.client("viewer")

    def finished():
        row = client.get(f"/api/v1/reconstructions/{rec.pk}/").json()
        return row if row["state"] in ("done", "failed", "cancelled") else None

    row = wait_until(finished, 180)
    assert row["state"] == "done", row["error"]
    rec.refresh_from_db()
    assert rec.worker.startswith("tests@") and rec.volume is not None
    reasons = m.AuditEvent.objects.filter(model="recon.reconstruction", object_id=str(rec.pk))
    assert any(r.startswith("stale-job sweep") for r in reasons.values_list("reason", flat=True))

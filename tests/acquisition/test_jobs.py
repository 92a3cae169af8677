"""The acquisition job run in-process: at most once, pause/resume/abort, leases, budget.

The real worker and broker are exercised in ``test_jobs_worker.py``; here ``jobs.execute``
is called directly, with the tiny simulated instrument or a fake frame source.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from acquisition import jobs
from acquisition import models as am
from acquisition.formats import read_scan
from acquisition.formats.atomic import sha256_file
from acquisition.phantom import read_truth
from studies.audit import audit_context
from studies.datafiles import absolute
from studies.models import AuditEvent, ScanSession

from .conftest import TINY_DOSE_MGY, TINY_FRAMES, FakeDriver

pytestmark = pytest.mark.django_db


def _request(world, protocol, **kwargs) -> am.AcquisitionJob:
    return jobs.request_acquisition(
        world.session, protocol, user=world.users["operator"], paced=False, **kwargs
    )


def _files(job: am.AcquisitionJob) -> list[str]:
    folder = absolute(jobs.scan_relative_path(job)).parent
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _run(job, driver=None, **kwargs) -> jobs.Outcome:
    return jobs.execute(job.pk, owner=kwargs.pop("owner", "worker-1"), driver=driver,
                        control_interval_s=0.0, **kwargs)  # fmt: skip


def test_completed_scan_is_stored_with_checksum_and_dose(world, protocol):
    job = _request(world, protocol)
    outcome = _run(job)
    job.refresh_from_db()
    world.session.refresh_from_db()
    assert outcome.state == job.state == "done"
    assert world.session.state == "acquired"
    assert (job.frames_done, job.projections_done, job.frames_total) == (TINY_FRAMES, 12, 16)
    assert job.progress == 1.0
    assert job.frame_rate_achieved_hz > 0
    scan = am.Scan.objects.get(job=job)
    study, animal, session = world.study.pk, world.animal.pk, world.session.pk
    assert (
        scan.relative_path == f"study-{study}/animal-{animal}/session-{session}/scan-{job.pk}.nxs"
    )
    path = absolute(scan.relative_path)
    assert scan.sha256 == sha256_file(path)
    assert scan.size_bytes == path.stat().st_size
    assert (scan.n_frames, scan.n_projections, scan.frame_shape) == (16, 12, [8, 8])
    data = read_scan(path)
    assert data.n_projections == 12
    assert data.frame_shape == (8, 8)
    assert data.angles_deg[1] == pytest.approx(30.0)
    assert data.geometry.pixel_um == pytest.approx(44.0)  # 11 µm × binning 4
    # the phantom's ground truth beside the scan, nothing partial left
    assert _files(job) == [f"scan-{job.pk}.nxs", f"scan-{job.pk}.truth.h5"]
    truth = read_truth(absolute(scan.truth_relative_path))
    assert scan.truth_sha256 == sha256_file(absolute(scan.truth_relative_path))
    assert (truth.site, truth.day, truth.previous_day) == ("tibia-right-proximal", 7, None)
    assert truth.seed == jobs.animal_seed(world.animal)
    assert truth.labels.shape == (16, 16, 16)
    assert truth.treatments[0].agent == "zoledronate"
    record = am.DoseRecord.objects.get(job=job)
    assert (record.kind, record.site) == ("full", "tibia-right-proximal")
    assert record.dose_mgy == pytest.approx(TINY_DOSE_MGY, rel=1e-12)


def test_a_second_delivery_never_scans_again(world, protocol):
    job = _request(world, protocol)
    assert _run(job).state == "done"
    scan = am.Scan.objects.get(job=job)
    driver = FakeDriver()
    again = _run(job, driver, owner="worker-2")
    assert again.state == "done"
    assert "nothing done" in again.message
    assert driver.frames_yielded == 0  # no frame was even asked for
    assert driver.settings is None  # nor was the instrument prepared
    assert am.Scan.objects.filter(session=world.session).count() == 1
    assert am.DoseRecord.objects.filter(animal=world.animal).count() == 1
    assert sha256_file(absolute(scan.relative_path)) == scan.sha256


def test_claim_is_won_once(world, protocol):
    job = _request(world, protocol)
    first = jobs.claim(job.pk, owner="a")
    second = jobs.claim(job.pk, owner="b")
    assert first.state == "running"
    assert second.state == "running" and "nothing done" in second.message
    job.refresh_from_db()
    assert job.lease_owner == "a"


def test_abort_mid_scan_keeps_no_file_and_books_the_partial_dose(world, protocol):
    job = _request(world, protocol)
    operator = world.users["operator"]
    driver = FakeDriver(on_frame=lambda n: n == 8 and jobs.abort(job, user=operator))
    outcome = _run(job, driver)
    job.refresh_from_db()
    world.session.refresh_from_db()
    assert outcome.state == job.state == "cancelled"
    assert world.session.state == "aborted"
    assert driver.aborted
    assert _files(job) == []  # neither a final nor a partial file
    assert not am.Scan.objects.filter(job=job).exists()
    record = am.DoseRecord.objects.get(job=job)
    # frames 0–1 darks, 2–3 flats, 4–8 projections: 5 of 12 projections delivered
    assert (record.kind, record.projections_delivered) == ("partial", 5)
    assert record.dose_mgy == pytest.approx(TINY_DOSE_MGY * 5 / 12, rel=1e-12)


def test_abort_of_a_queued_scan_needs_no_worker(world, protocol):
    job = _request(world, protocol)
    jobs.abort(job, user=world.users["operator"], reason="animal not ready")
    world.session.refresh_from_db()
    assert job.state == "cancelled"
    assert world.session.state == "aborted"
    driver = FakeDriver()
    assert _run(job, driver).state == "cancelled"
    assert driver.frames_yielded == 0
    assert not am.DoseRecord.objects.exists()


def test_pause_holds_the_scan_until_resumed(world, protocol):
    job = _request(world, protocol)
    operator = world.users["operator"]
    seen = []

    def sleep(seconds):
        state, frames = am.AcquisitionJob.objects.values_list("state", "frames_done").get(pk=job.pk)
        seen.append((state, frames))
        if len(seen) == 3:
            jobs.resume(job, user=operator)

    driver = FakeDriver(on_frame=lambda n: n == 6 and jobs.pause(job, user=operator))
    outcome = _run(job, driver, sleep=sleep)
    assert outcome.state == "done"
    # paused after frame 6 (7 frames written), for three polls, then resumed to the end
    assert seen == [("paused", 7)] * 3
    job.refresh_from_db()
    assert (job.frames_done, job.pause_requested) == (TINY_FRAMES, False)
    assert am.Scan.objects.get(job=job).n_frames == TINY_FRAMES
    actions = AuditEvent.objects.filter(model="acquisition.acquisitionjob", action="update")
    flags = [next(iter(event.changes)) for event in actions.order_by("id")]
    assert flags == ["pause_requested", "pause_requested"]


def test_abort_while_paused(world, protocol):
    job = _request(world, protocol)
    operator = world.users["operator"]
    driver = FakeDriver(on_frame=lambda n: n == 5 and jobs.pause(job, user=operator))
    outcome = _run(job, driver, sleep=lambda s: jobs.abort(job, user=operator))
    assert outcome.state == "cancelled"
    assert _files(job) == []
    assert am.DoseRecord.objects.get(job=job).projections_delivered == 2


def test_driver_fault_fails_the_job_and_books_what_was_delivered(world, protocol):
    job = _request(world, protocol)
    outcome = _run(job, FakeDriver(fail_at=10))
    job.refresh_from_db()
    world.session.refresh_from_db()
    assert outcome.state == job.state == "failed"
    assert "detector fault at frame 10" in job.error
    assert world.session.state == "failed"
    assert _files(job) == []
    assert am.DoseRecord.objects.get(job=job).projections_delivered == 6  # frames 4–9


def test_a_worker_that_lost_its_lease_stops_and_keeps_nothing(world, protocol):
    job = _request(world, protocol)
    later = timezone.now() + dt.timedelta(seconds=jobs.LEASE_S + 1)
    driver = FakeDriver(on_frame=lambda n: n == 7 and jobs.sweep_expired_leases(now=later))
    outcome = _run(job, driver)
    job.refresh_from_db()
    world.session.refresh_from_db()
    assert outcome.state == job.state == "interrupted"
    assert world.session.state == "interrupted"
    assert _files(job) == []
    # The sweep, before frame 7, booked projections 4–6; frame 7 was exposed after it,
    # and the worker raised the one booking of the job to the 4 it really exposed.
    record = am.DoseRecord.objects.get(job=job)
    assert record.projections_delivered == 4
    assert record.dose_mgy == pytest.approx(TINY_DOSE_MGY * 4 / 12, rel=1e-12)
    update = AuditEvent.objects.get(model="acquisition.doserecord", action="update")
    assert update.changes["projections_delivered"] == [3, 4]
    assert "counted by the worker after its lease was swept" in update.reason


class _WorkerKilled(BaseException):
    """Stands in for SIGKILL: nothing in the job's code handles it."""


def test_a_killed_worker_books_every_projection_it_exposed(world, protocol):
    """The lag: progress is throttled (here to once an hour), yet each exposure counts."""
    job = _request(world, protocol)

    def kill(n):
        if n == 9:
            raise _WorkerKilled

    with pytest.raises(_WorkerKilled):
        jobs.execute(job.pk, owner="doomed", driver=FakeDriver(on_frame=kill),
                     control_interval_s=3600.0)  # fmt: skip
    job.refresh_from_db()
    assert (job.state, job.projections_done) == ("running", 5)  # frames 4–8 exposed
    later = timezone.now() + dt.timedelta(seconds=jobs.LEASE_S + 1)
    assert jobs.sweep_expired_leases(now=later) == [job.pk]
    job.refresh_from_db()
    record = am.DoseRecord.objects.get(job=job)
    assert (record.kind, record.projections_delivered) == ("partial", 5)
    assert record.dose_mgy == pytest.approx(TINY_DOSE_MGY * 5 / 12, rel=1e-12)
    assert record.booked_at == job.finished_at == later  # booked as the interruption is


def test_sweep_leaves_live_leases_and_removes_partial_files(world, protocol):
    job = _request(world, protocol)
    jobs.claim(job.pk, owner="dead-worker")
    am.AcquisitionJob.objects.filter(pk=job.pk).update(projections_done=4)
    leftover = absolute(jobs.scan_relative_path(job))
    leftover.parent.mkdir(parents=True, exist_ok=True)
    partial = leftover.with_name(f".{leftover.name}.0123abcd.partial")
    partial.write_bytes(b"half a scan")
    assert jobs.sweep_expired_leases() == []
    later = timezone.now() + dt.timedelta(seconds=jobs.LEASE_S + 1)
    assert jobs.sweep_expired_leases(now=later) == [job.pk]
    job.refresh_from_db()
    assert job.state == "interrupted"
    assert "dead-worker" in job.error
    assert not partial.exists()
    assert am.DoseRecord.objects.get(job=job).dose_mgy == pytest.approx(TINY_DOSE_MGY / 3)
    assert jobs.sweep_expired_leases(now=later) == []  # swept once


def test_requeue_needs_a_reason_and_makes_a_new_job(world, protocol):
    job = _request(world, protocol)
    jobs.claim(job.pk, owner="dead-worker")
    later = timezone.now() + dt.timedelta(seconds=jobs.LEASE_S + 1)
    jobs.sweep_expired_leases(now=later)
    job.refresh_from_db()
    operator = world.users["operator"]
    with pytest.raises(jobs.AcquisitionRefused, match="reason"):
        jobs.requeue(job, user=operator, reason=" ")
    new = jobs.requeue(job, user=operator, reason="worker PC rebooted")
    world.session.refresh_from_db()
    assert (new.state, new.requeue_of_id, new.requeue_reason) == (
        "queued",
        job.pk,
        "worker PC rebooted",
    )
    assert world.session.state == "queued"
    event = AuditEvent.objects.filter(model="studies.scansession").latest("id")
    assert event.changes["state"] == ["interrupted", "queued"]
    assert event.reason == "worker PC rebooted"
    with pytest.raises(jobs.AcquisitionRefused, match="already re-queued"):
        jobs.requeue(job, user=operator, reason="again")


def test_one_scan_at_a_time_per_instrument(world, protocol):
    first = _request(world, protocol)
    other_session = ScanSession.objects.create(
        animal=world.animal, site=world.session.site, planned_at=world.session.planned_at
    )
    second = jobs.request_acquisition(other_session, protocol, user=world.users["operator"])
    assert jobs.claim(first.pk, owner="a").state == "running"
    busy = jobs.claim(second.pk, owner="b")
    assert busy.busy
    second.refresh_from_db()
    assert second.state == "queued"


def test_budget_is_checked_again_before_the_first_frame(world, protocol):
    job = _request(world, protocol)
    world.study.dose_budget_mgy = 5.0
    world.study.save()
    am.DoseRecord.objects.create(
        animal=world.animal, site=world.session.site, dose_mgy=2.0, kind="external"
    )
    driver = FakeDriver()
    outcome = _run(job, driver)
    job.refresh_from_db()
    world.session.refresh_from_db()
    assert outcome.state == job.state == "failed"
    assert job.error.startswith("Refused before any exposure")
    assert driver.frames_yielded == 0
    assert world.session.state == "planned"
    assert not am.DoseRecord.objects.filter(job=job).exists()


def test_request_over_budget_is_refused_with_the_figures(world, protocol):
    world.study.dose_budget_mgy = 5.0
    world.study.save()
    _request(world, protocol)  # 3.6 mGy pending
    second = ScanSession.objects.create(
        animal=world.animal, site=world.session.site, planned_at=world.session.planned_at
    )
    with pytest.raises(jobs.DoseBudgetExceeded) as caught:
        jobs.request_acquisition(second, protocol, user=world.users["operator"])
    assert caught.value.check.after_mgy == pytest.approx(7.2)
    assert "past the study's budget of 5.0 mGy" in str(caught.value)
    second.refresh_from_db()
    assert second.state == "planned"
    assert am.AcquisitionJob.objects.filter(session=second).count() == 0


def test_override_is_recorded_and_audited(world, protocol):
    world.study.dose_budget_mgy = 3.0
    world.study.save()
    investigator = world.users["investigator"]
    with audit_context(user=investigator, source="api"):
        job = jobs.request_acquisition(
            world.session,
            protocol,
            user=investigator,
            paced=False,
            override_reason="final time point",
        )
    assert job.dose_override_reason == "final time point"
    assert job.dose_override_by == investigator
    event = AuditEvent.objects.get(model="acquisition.acquisitionjob", action="create")
    assert event.reason == "final time point"
    assert event.username == "investigator"
    assert _run(job).state == "done"  # the override holds at the start too


def test_protocol_for_another_site_is_refused(world, instrument):
    from .conftest import TINY_PROTOCOL

    spine = am.ScanProtocol.objects.create(
        instrument=instrument, name="spine", **{**TINY_PROTOCOL, "site": "L5-vertebra"}
    )
    with pytest.raises(jobs.AcquisitionRefused, match="protocol is for L5 vertebra"):
        _request(world, spine)


def test_abort_between_claim_and_first_frame_takes_no_frame(world, protocol):
    job = _request(world, protocol)
    operator = world.users["operator"]
    # the worker has won the job and prepares the instrument as someone aborts it
    driver = FakeDriver(on_prepare=lambda: jobs.abort(job, user=operator))
    outcome = _run(job, driver)
    assert outcome.state == "cancelled"
    assert driver.aborted and driver.frames_yielded == 0
    assert _files(job) == []
    assert not am.DoseRecord.objects.filter(job=job).exists()


def test_sweep_command_reports_what_it_marked(world, protocol):
    import io

    from django.core.management import call_command

    job = _request(world, protocol)
    jobs.claim(job.pk, owner="dead-worker", lease_s=-1.0)  # a lease already run out
    out = io.StringIO()
    call_command("sweep_acquisition_leases", stdout=out)
    assert f"acquisition {job.pk}: interrupted" in out.getvalue()
    assert "1 acquisition(s) marked interrupted." in out.getvalue()
    job.refresh_from_db()
    assert job.state == "interrupted"

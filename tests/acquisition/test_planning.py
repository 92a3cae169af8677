"""Plan queueing: due plan sessions queued on a free instrument; over-budget ones flagged."""

from __future__ import annotations

import datetime as dt

import pytest

from acquisition import models as am
from acquisition.planning import queue_planned_sessions
from acquisition.tasks import queue_planned_sessions as queue_task
from acquisition.tasks import run_acquisition
from studies import models as m
from studies.vocabulary import SessionState
from tests.acquisition.conftest import START, TINY_DOSE_MGY, World
from tests.conftest import wait_until

SITE = "tibia-right-proximal"
#: Study day 7 (the first visit of the plan below), inside its ± 2 day window.
DAY_7 = START + dt.timedelta(days=7)


def _plan(world: World, protocol_name: str = "tiny") -> list[m.ScanSession]:
    """A cohort plan (days 7, 21, 35; ± 2 d) and its sessions for the cohort's animal."""
    plan = m.ScanPlan.objects.create(
        study=world.study, cohort=world.cohort, site=SITE, protocol_name=protocol_name,
        start_day=7, interval_days=14, duration_weeks=4, window_days=2,
    )  # fmt: skip
    return [
        m.ScanSession.objects.create(
            animal=world.animal,
            site=SITE,
            scan_plan=plan,
            plan_visit=visit,
            planned_at=world.study.datetime_of_day(day, dt.time(10)),
        )  # fmt: skip
        for visit, day in enumerate((7, 21, 35))
    ]


@pytest.fixture
def sent(monkeypatch):
    """Acquisition jobs whose task the planner sent (nothing reaches a broker)."""
    calls: list[int] = []
    monkeypatch.setattr(run_acquisition, "delay", calls.append)
    return calls


def _flags(world: World, kind: str) -> list[m.Flag]:
    return list(m.Flag.objects.filter(study=world.study, kind=kind))


def _state(session: m.ScanSession) -> str:
    return m.ScanSession.objects.values_list("state", flat=True).get(pk=session.pk)


@pytest.mark.django_db
def test_a_due_session_is_queued_on_the_free_instrument(
    world, protocol, sent, django_capture_on_commit_callbacks
):
    first, second, _ = _plan(world)
    with django_capture_on_commit_callbacks(execute=True):
        summary = queue_planned_sessions(DAY_7)
    job = am.AcquisitionJob.objects.get(session=first)
    assert summary[world.study.pk]["queued"] == {first.pk: job.pk}
    assert (job.protocol_id, job.instrument_id) == (protocol.pk, protocol.instrument_id)
    assert job.nominal_dose_mgy == pytest.approx(TINY_DOSE_MGY, rel=1e-9)
    assert sent == [job.pk]
    assert (_state(first), _state(second)) == (SessionState.QUEUED, SessionState.PLANNED)
    assert m.Flag.objects.filter(study=world.study).count() == 0


@pytest.mark.django_db
def test_the_current_protocol_version_is_used(
    world, protocol, sent, django_capture_on_commit_callbacks
):
    first, *_ = _plan(world)
    current = protocol.new_version(n_projections=24)
    with django_capture_on_commit_callbacks(execute=True):
        queue_planned_sessions(DAY_7)
    assert am.AcquisitionJob.objects.get(session=first).protocol_id == current.pk


@pytest.mark.django_db
def test_a_busy_instrument_takes_one_job_per_run(
    world, protocol, sent, django_capture_on_commit_callbacks
):
    first, *_ = _plan(world)
    other = m.Animal.objects.create(
        study=world.study, cohort=world.cohort, label="M02", sex="female"
    )
    late = m.ScanSession.objects.create(
        animal=other, site=SITE, scan_plan=first.scan_plan, plan_visit=0,
        planned_at=world.study.datetime_of_day(7, dt.time(11)),
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        queue_planned_sessions(DAY_7)
        again = queue_planned_sessions(DAY_7)  # the first job still holds the instrument
    assert (_state(first), _state(late)) == (SessionState.QUEUED, SessionState.PLANNED)
    assert again[world.study.pk]["queued"] == {}
    assert len(sent) == 1


@pytest.mark.django_db
def test_an_over_budget_session_is_not_queued_but_flagged_once(
    world, protocol, sent, django_capture_on_commit_callbacks
):
    first, *_ = _plan(world)
    m.Study.objects.filter(pk=world.study.pk).update(dose_budget_mgy=3.0)  # < 3.6 mGy
    with django_capture_on_commit_callbacks(execute=True):
        summary = queue_planned_sessions(DAY_7)
        again = queue_planned_sessions(DAY_7)
    assert summary[world.study.pk]["over_budget"] == 1 and summary[world.study.pk]["raised"] == 1
    assert again[world.study.pk]["raised"] == 0
    [flag] = _flags(world, "scan-over-budget")
    assert flag.scan_session_id == first.pk and flag.animal_id == world.animal.pk
    assert flag.value == pytest.approx(TINY_DOSE_MGY, rel=1e-9)  # cumulative dose if scanned
    assert _state(first) == SessionState.PLANNED
    assert not am.AcquisitionJob.objects.exists() and sent == []


@pytest.mark.django_db
def test_raising_the_budget_queues_the_session_and_resolves_its_flag(
    world, protocol, sent, django_capture_on_commit_callbacks
):
    first, *_ = _plan(world)
    m.Study.objects.filter(pk=world.study.pk).update(dose_budget_mgy=3.0)
    with django_capture_on_commit_callbacks(execute=True):
        queue_planned_sessions(DAY_7)
        m.Study.objects.filter(pk=world.study.pk).update(dose_budget_mgy=100.0)
        summary = queue_planned_sessions(DAY_7)
    assert summary[world.study.pk]["resolved"] == 1
    assert list(summary[world.study.pk]["queued"]) == [first.pk]
    [flag] = _flags(world, "scan-over-budget")
    assert flag.resolved_at is not None


@pytest.mark.django_db
def test_an_unknown_protocol_name_is_flagged(world, protocol, sent):
    first, *_ = _plan(world, protocol_name="no-such-protocol")
    summary = queue_planned_sessions(DAY_7)
    assert summary[world.study.pk]["not_queued"] == 1
    [flag] = _flags(world, "scan-not-queued")
    assert flag.scan_session_id == first.pk and "'no-such-protocol'" in flag.message
    assert _state(first) == SessionState.PLANNED


@pytest.mark.django_db
def test_sessions_outside_their_window_are_left_alone(world, protocol, sent):
    first, *_ = _plan(world)
    before = queue_planned_sessions(START + dt.timedelta(days=4))  # window opens on day 5
    after = queue_planned_sessions(START + dt.timedelta(days=10))  # closed after day 9
    assert before[world.study.pk]["queued"] == after[world.study.pk]["queued"] == {}
    assert _state(first) == SessionState.PLANNED


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_plan_queueing_on_the_worker_flags_an_over_budget_session_in_the_api(
    world, protocol, celery_worker
):
    first, *_ = _plan(world)
    m.Study.objects.filter(pk=world.study.pk).update(dose_budget_mgy=3.0)
    queue_task.delay(DAY_7.isoformat())
    client = world.client("viewer")

    def open_flags():
        query = {"study": world.study.pk, "kind": "scan-over-budget", "open": "true"}
        return client.get("/api/v1/flags/", query).json()["results"]

    [flag] = wait_until(open_flags, 60)
    assert flag["scan_session"] == first.pk and flag["severity"] == "warning"
    session = client.get(f"/api/v1/scan-sessions/{first.pk}/").json()
    assert session["state"] == "planned"
    jobs = client.get("/api/v1/acquisitions/", {"study": world.study.pk}).json()["results"]
    assert jobs == []

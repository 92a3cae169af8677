"""The scheduled checks called directly (dosing, welfare, scan plans) and their API."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from studies import models as m
from studies.dosing_due import check_dosing
from studies.scan_plans import run_scan_plans
from studies.welfare import check_welfare
from tests.studies.conftest import START

pytestmark = pytest.mark.django_db

DAY = dt.timedelta(days=1)


def flags(study, kind):
    return list(m.Flag.objects.filter(study=study, kind=kind).order_by("id"))


def audit_actions(flag):
    return list(
        m.AuditEvent.objects.filter(model="studies.flag", object_id=str(flag.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )


# --- dosing ---------------------------------------------------------------------------


def test_dose_due_today_is_not_overdue(world):
    summary = check_dosing(START)
    assert summary[world.study.pk] == {
        "due_today": 1,
        "overdue": 0,
        "raised": 0,
        "reopened": 0,
        "resolved": 0,
    }
    assert flags(world.study, "dose-overdue") == []


def test_overdue_dose_is_flagged_once_and_resolved_when_given(world):
    first = check_dosing(START + DAY)[world.study.pk]
    assert (first["overdue"], first["raised"]) == (1, 1)
    again = check_dosing(START + DAY)[world.study.pk]
    assert (again["overdue"], again["raised"]) == (1, 0)
    [flag] = flags(world.study, "dose-overdue")
    assert flag.administration_id == world.administration.pk
    assert flag.animal_id == world.animal.pk
    assert flag.subject == f"administration:{world.administration.pk}"
    assert "day 0" in flag.message and flag.resolved_at is None

    world.administration.actual_at = world.study.datetime_of_day(1, dt.time(10))
    world.administration.dose_given = Decimal("2.0")
    world.administration.save()
    resolved = check_dosing(START + DAY)[world.study.pk]
    assert (resolved["overdue"], resolved["resolved"]) == (0, 1)
    flag.refresh_from_db()
    assert flag.resolved_at is not None
    assert audit_actions(flag) == ["create", "update"]


def test_due_endpoint_lists_today_and_overdue(world):
    client = world.client("viewer")
    url = f"/api/v1/studies/{world.study.pk}/due/"
    today = client.get(url, {"date": START.isoformat()}).json()
    assert today["study_day"] == 0
    assert [row["id"] for row in today["due_today"]] == [world.administration.pk]
    assert today["overdue"] == []
    later = client.get(url, {"date": (START + 3 * DAY).isoformat()}).json()
    assert later["study_day"] == 3
    assert later["due_today"] == []
    assert [row["id"] for row in later["overdue"]] == [world.administration.pk]


def test_due_endpoint_refuses_bad_date_and_hides_other_studies(world):
    url = f"/api/v1/studies/{world.study.pk}/due/"
    assert world.client("viewer").get(url, {"date": "5 Jan"}).status_code == 400
    assert world.client("outsider").get(url).status_code == 404


# --- welfare --------------------------------------------------------------------------


def weigh(animal, day: int, grams: str):
    return m.BodyWeight.objects.create(
        animal=animal, measured_on=START + day * DAY, grams=Decimal(grams)
    )


def test_fifteen_percent_warns_and_twenty_flags_the_humane_endpoint(world):
    weigh(world.animal, 7, "17.0")  # 20 g baseline → 15 % lost
    summary = check_welfare()[world.study.pk]
    assert summary["warning"] == 1 and summary["humane_endpoint"] == 0
    [warning] = flags(world.study, "weight-loss-warning")
    assert warning.severity == "warning"
    assert warning.value == pytest.approx(15.0, abs=1e-9)
    assert "20 g → 17 g" in warning.message

    assert check_welfare()[world.study.pk]["raised"] == 0  # a re-run duplicates nothing
    weigh(world.animal, 14, "16.0")  # 20 % lost
    summary = check_welfare()[world.study.pk]
    assert summary["humane_endpoint"] == 1 and summary["raised"] == 1
    [endpoint] = flags(world.study, "humane-endpoint")
    assert endpoint.severity == "critical" and endpoint.animal_id == world.animal.pk
    assert endpoint.value == pytest.approx(20.0, abs=1e-9)
    assert len(flags(world.study, "weight-loss-warning")) == 1
    assert audit_actions(endpoint) == ["create"]


def test_welfare_flags_stay_when_weight_recovers(world):
    weigh(world.animal, 7, "16.9")
    check_welfare()
    weigh(world.animal, 14, "20.5")
    summary = check_welfare()[world.study.pk]
    assert summary["warning"] == 0 and summary["resolved"] == 0
    [warning] = flags(world.study, "weight-loss-warning")
    assert warning.resolved_at is None  # only a person closes a welfare flag


def test_acknowledged_welfare_flag_resolves_on_recovery_and_reopens_on_relapse(world):
    weigh(world.animal, 7, "16.9")
    check_welfare()
    [warning] = flags(world.study, "weight-loss-warning")
    operator = world.users["operator"]
    world.client("operator").post(f"/api/v1/flags/{warning.pk}/acknowledge/", {"note": "wet food"})
    weigh(world.animal, 14, "19.5")  # 2.5 %: recovered
    assert check_welfare()[world.study.pk]["resolved"] == 1
    weigh(world.animal, 21, "16.8")  # 16 %: a new episode
    assert check_welfare()[world.study.pk]["reopened"] == 1
    warning.refresh_from_db()
    assert warning.is_open and warning.acknowledged_by is None
    assert warning.value == pytest.approx(16.0, abs=1e-9)
    acknowledged = m.AuditEvent.objects.filter(
        model="studies.flag", object_id=str(warning.pk), username=operator.username
    )
    assert acknowledged.get().changes["acknowledgement_note"] == ["", "wet food"]


def test_thresholds_are_per_study(world):
    world.other_study.weight_loss_warning_pct = 5.0
    world.other_study.weight_loss_endpoint_pct = 8.0
    world.other_study.save()
    m.BodyWeight.objects.create(animal=world.other_animal, measured_on=START, grams=Decimal("25"))
    weigh(world.other_animal, 7, "23.5")  # 6 %: a warning there
    weigh(world.animal, 7, "18.9")  # 5.5 %: nothing at the default 15 %
    summary = check_welfare()
    assert summary[world.other_study.pk]["warning"] == 1
    assert summary[world.study.pk]["warning"] == 0
    assert "warning at 5 %" in flags(world.other_study, "weight-loss-warning")[0].message


def test_flags_in_the_api_and_acknowledged_by_an_operator(world):
    weigh(world.animal, 7, "15.0")  # 25 % lost
    check_welfare()
    [flag] = flags(world.study, "humane-endpoint")
    listed = world.client("viewer").get(
        "/api/v1/flags/", {"study": world.study.pk, "kind": "humane-endpoint", "open": "true"}
    )
    assert [row["id"] for row in listed.json()["results"]] == [flag.pk]
    assert listed.json()["results"][0]["animal_label"] == "M01"
    assert world.client("outsider").get("/api/v1/flags/").json()["results"] == []

    url = f"/api/v1/flags/{flag.pk}/acknowledge/"
    assert world.client("viewer").post(url, {"note": "seen"}).status_code == 403
    response = world.client("operator").post(
        url, {"note": "euthanised"}, HTTP_X_AUDIT_REASON="humane endpoint"
    )
    assert response.status_code == 200
    assert response.json()["acknowledged_by"] == "operator"
    assert response.json()["is_open"] is False
    still_open = world.client("viewer").get("/api/v1/flags/", {"open": "true"}).json()
    assert still_open["results"] == []
    event = m.AuditEvent.objects.filter(model="studies.flag", action="update").get()
    assert event.username == "operator" and event.reason == "humane endpoint"
    assert event.changes["acknowledgement_note"] == ["", "euthanised"]


# --- scan plans -----------------------------------------------------------------------


def make_plan(world, **fields):
    values = {
        "study": world.study,
        "cohort": world.cohort,
        "site": "tibia-left-proximal",
        "start_day": 0,
        "interval_days": 7,
        "duration_weeks": 4,
        "window_days": 1,
        "lead_days": 10,
    }
    plan = m.ScanPlan.objects.create(**{**values, **fields})
    # Made before the study started, so no visit is "past" when the plan was made.
    m.ScanPlan.objects.filter(pk=plan.pk).update(
        created_at=timezone.make_aware(dt.datetime.combine(START - DAY, dt.time(9)))
    )
    plan.refresh_from_db()
    return plan


def plan_sessions(plan):
    return list(plan.sessions.order_by("plan_visit").values_list("plan_visit", "planned_at"))


def test_plan_creates_sessions_ahead_once(world):
    plan = make_plan(world)
    summary = run_scan_plans(START + 7 * DAY)[world.study.pk]  # horizon: day 17
    assert summary["created"] == 3
    assert plan_sessions(plan) == [
        (visit, world.study.datetime_of_day(day, dt.time(10)))
        for visit, day in [(0, 0), (1, 7), (2, 14)]
    ]
    assert run_scan_plans(START + 7 * DAY)[world.study.pk]["created"] == 0
    assert plan.sessions.count() == 3
    assert {s.site for s in plan.sessions.all()} == {"tibia-left-proximal"}


def test_overdue_then_missed_then_resolved(world):
    plan = make_plan(world)
    summary = run_scan_plans(START + DAY)[world.study.pk]  # day 0 scan, 1 day late
    assert (summary["overdue"], summary["missed"]) == (1, 0)
    baseline = plan.sessions.get(plan_visit=0)
    [overdue] = flags(world.study, "scan-overdue")
    assert overdue.scan_session_id == baseline.pk and overdue.severity == "warning"

    summary = run_scan_plans(START + 2 * DAY)[world.study.pk]  # the ± 1 day window closed
    assert (summary["overdue"], summary["missed"], summary["resolved"]) == (0, 1, 1)
    [missed] = flags(world.study, "scan-missed")
    assert missed.severity == "critical" and "window has closed" in missed.message
    overdue.refresh_from_db()
    assert overdue.resolved_at is not None

    baseline.transition_to("queued")
    baseline.transition_to("acquiring")
    summary = run_scan_plans(START + 2 * DAY)[world.study.pk]
    assert summary["resolved"] == 1
    missed.refresh_from_db()
    assert missed.resolved_at is not None


def test_plan_skips_animals_no_longer_alive_and_serves_one_animal(world):
    make_plan(world)
    world.animal.status, world.animal.end_date = "died", START + DAY
    world.animal.save()
    assert run_scan_plans(START)[world.study.pk]["created"] == 0
    other = make_plan(world, cohort=None, animal=world.other_animal, study=world.other_study)
    assert run_scan_plans(START)[world.other_study.pk]["created"] == 2  # days 0 and 7
    assert {s.animal_id for s in other.sessions.all()} == {world.other_animal.pk}


def test_plan_api_validates_and_shows_visit_days(world):
    client = world.client("investigator")
    body = {
        "study": world.study.pk,
        "cohort": world.cohort.pk,
        "site": "femur-left-distal",
        "start_day": 0,
        "interval_days": 14,
        "duration_weeks": 4,
        "window_days": 2,
    }
    created = client.post("/api/v1/scan-plans/", body, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["visit_days"] == [0, 14, 28]
    both = client.post("/api/v1/scan-plans/", {**body, "animal": world.animal.pk}, format="json")
    assert both.status_code == 400 and "cohort" in both.json()
    overlap = client.post("/api/v1/scan-plans/", {**body, "window_days": 7}, format="json")
    assert overlap.status_code == 400 and "window_days" in overlap.json()
    assert world.client("operator").post("/api/v1/scan-plans/", body).status_code == 403
    assert m.AuditEvent.objects.filter(model="studies.scanplan", action="create").count() == 1

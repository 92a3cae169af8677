"""The scheduled jobs run by a real Celery worker on the real Redis broker, seen in the API."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from studies import models as m
from studies.tasks import check_dosing, check_welfare, run_scan_plans
from tests.conftest import wait_until
from tests.studies.conftest import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture
def lab(db):
    """A study that started ten days ago: one animal, a missed dose, lost weight, a plan."""
    today = timezone.localdate()
    start = today - dt.timedelta(days=10)
    viewer = make_user("jobs-viewer")
    study = m.Study.objects.create(
        title="Jobs", ethics_licence="L-9", principal_investigator="PI", start_date=start
    )
    m.Membership.objects.create(study=study, user=viewer, role="viewer")
    cohort = m.Cohort.objects.create(study=study, name="OVX")
    animal = m.Animal.objects.create(study=study, cohort=cohort, label="J01", sex="female")
    treatment = m.Treatment.objects.create(
        cohort=cohort, kind="drug", agent="zoledronate", dose=Decimal("100"),
        dose_unit="ug/kg", route="sc", start_day=2,
    )  # fmt: skip
    dose = m.Administration.objects.create(
        treatment=treatment, animal=animal, planned_at=study.datetime_of_day(2, dt.time(9))
    )
    m.BodyWeight.objects.create(animal=animal, measured_on=start, grams=Decimal("20.0"))
    m.BodyWeight.objects.create(animal=animal, measured_on=today, grams=Decimal("15.5"))
    plan = m.ScanPlan.objects.create(
        study=study, cohort=cohort, site="tibia-right-proximal", start_day=0,
        interval_days=3, duration_weeks=2, window_days=1, lead_days=14,
    )  # fmt: skip
    m.ScanPlan.objects.filter(pk=plan.pk).update(
        created_at=timezone.make_aware(dt.datetime.combine(start, dt.time(8)))
    )
    return {"study": study, "viewer": viewer, "animal": animal, "dose": dose, "plan": plan}


def api(lab):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(lab["viewer"])
    return client


def open_flags(client, study, kind):
    response = client.get("/api/v1/flags/", {"study": study.pk, "kind": kind, "open": "true"})
    return response.json()["results"]


def test_welfare_check_on_the_worker_flags_the_humane_endpoint(lab, celery_worker):
    sent = check_welfare.delay()
    client = api(lab)
    [flag] = wait_until(lambda: open_flags(client, lab["study"], "humane-endpoint"), 60)
    assert flag["animal"] == lab["animal"].pk and flag["severity"] == "critical"
    assert flag["value"] == pytest.approx(22.5, abs=1e-9)  # (20 - 15.5) / 20
    event = m.AuditEvent.objects.get(model="studies.flag", object_id=str(flag["id"]))
    assert event.source == "task"
    assert event.request_id == sent.id  # the job's task id (nanoscope_web/logging.py)


def test_dosing_check_on_the_worker_flags_the_overdue_dose(lab, celery_worker):
    check_dosing.delay()
    client = api(lab)
    [flag] = wait_until(lambda: open_flags(client, lab["study"], "dose-overdue"), 60)
    assert flag["administration"] == lab["dose"].pk
    due = client.get(f"/api/v1/studies/{lab['study'].pk}/due/").json()
    assert due["study_day"] == 10
    assert [row["id"] for row in due["overdue"]] == [lab["dose"].pk]


def test_scan_plan_job_on_the_worker_creates_sessions_and_flags_late_ones(lab, celery_worker):
    run_scan_plans.delay()
    client = api(lab)
    study = lab["study"]

    def sessions():
        rows = client.get("/api/v1/scan-sessions/", {"study": study.pk}).json()["results"]
        return rows if len(rows) == 5 else None

    rows = wait_until(sessions, 60)
    assert [row["study_day"] for row in rows] == [0, 3, 6, 9, 12]
    assert {row["scan_plan"] for row in rows} == {lab["plan"].pk}
    assert [row["plan_visit"] for row in rows] == [0, 1, 2, 3, 4]
    # Today is day 10 with a ± 1 day window: day 9 is overdue; 0, 3 and 6 were missed.
    missed = wait_until(lambda: len(open_flags(client, study, "scan-missed")) == 3, 60)
    assert missed
    [overdue] = open_flags(client, study, "scan-overdue")
    assert overdue["scan_session"] == rows[3]["id"]

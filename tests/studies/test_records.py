"""Derived values of the records: study days, baseline weight change, schedules, filters."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from studies import models as m

from .conftest import START, World


def test_study_day_of_each_record(world: World):
    session = world.client("viewer").get(f"/api/v1/scan-sessions/{world.session.pk}/").json()
    assert session["study_day"] == 7
    dose = world.client("viewer").get(f"/api/v1/administrations/{world.administration.pk}/")
    assert dose.json()["planned_study_day"] == 0
    assert dose.json()["actual_study_day"] is None


def test_percent_change_from_baseline(world: World):
    m.BodyWeight.objects.create(
        animal=world.animal, measured_on=START + dt.timedelta(days=14), grams=Decimal("17.0")
    )
    rows = world.client("viewer").get(f"/api/v1/body-weights/?animal={world.animal.pk}").json()
    changes = [row["percent_change_from_baseline"] for row in rows["results"]]
    assert changes == [0.0, -15.0]
    assert [row["study_day"] for row in rows["results"]] == [0, 14]


def test_generate_administrations_from_schedule(world: World):
    m.Animal.objects.create(study=world.study, cohort=world.cohort, label="M02", sex="female")
    url = f"/api/v1/treatments/{world.treatment.pk}/generate-administrations/"
    response = world.client("investigator").post(url)
    assert response.status_code == 201
    # 2 animals × 3 weekly doses, less the one already planned for M01 on day 0.
    assert len(response.json()) == 5
    days = sorted(
        {
            world.study.study_day(a.planned_at)
            for a in m.Administration.objects.filter(treatment=world.treatment)
        }
    )
    assert days == [0, 7, 14]
    again = world.client("investigator").post(url)
    assert again.json() == []


def test_completing_an_administration_records_who(world: World):
    url = f"/api/v1/administrations/{world.administration.pk}/"
    response = world.client("operator").patch(
        url,
        {"actual_at": "2026-01-05T09:10:00Z", "dose_given": "100", "body_weight_used_g": "20.1"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["administered_by"] == "operator"
    assert response.json()["actual_study_day"] == 0


def test_filters_and_ordering(world: World):
    for week in (2, 3):
        m.ScanSession.objects.create(
            animal=world.animal,
            site="L5-vertebra",
            planned_at=world.study.datetime_of_day(7 * week, dt.time(10)),
        )
    client = world.client("viewer")
    by_site = client.get("/api/v1/scan-sessions/?site=L5-vertebra").json()
    assert by_site["count"] == 2
    ranged = client.get(
        "/api/v1/scan-sessions/?planned_at_after=2026-01-18T00:00:00Z&ordering=-planned_at"
    ).json()
    assert [row["study_day"] for row in ranged["results"]] == [21, 14]
    by_state = client.get(f"/api/v1/scan-sessions/?study={world.study.pk}&state=planned")
    assert by_state.json()["count"] == 3


def test_csv_export_of_a_list_is_whole(world: World):
    for number in range(2, 60):
        m.Animal.objects.create(study=world.study, label=f"M{number:02d}", sex="male")
    response = world.client("viewer").get("/api/v1/animals/?format=csv&page_size=10")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    lines = response.content.decode().strip().splitlines()
    assert lines[0].split(",")[:4] == ["id", "study", "cohort", "cohort_name"]
    assert len(lines) == 1 + 59  # the header and every animal, not one page


def test_token_authentication(world: World, client):
    response = client.post(
        "/api/v1/auth/token/", {"username": "operator", "password": "pw-operator-123456"}
    )
    token = response.json()["token"]
    listed = client.get("/api/v1/studies/", HTTP_AUTHORIZATION=f"Token {token}")
    assert [row["title"] for row in listed.json()["results"]] == ["A"]
    assert listed.json()["results"][0]["my_role"] == "operator"


def test_creator_of_a_study_becomes_owner(world: World):
    response = world.client("viewer").post(
        "/api/v1/studies/",
        {
            "title": "Mine",
            "ethics_licence": "L-7",
            "principal_investigator": "Me",
            "start_date": "2026-03-01",
        },
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["my_role"] == "owner"

"""Record forms: the models' messages next to the field, nothing written on error,
and every page change in the audit trail with source "page"."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils.html import escape

from studies import models as m


def animal_data(**changes) -> dict:
    data = {
        "label": "M02",
        "sex": "female",
        "species": "Mus musculus",
        "status": "alive",
        "date_of_birth": "2025-10-01",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def shown_next_to_field(response, field: str, message: str) -> bool:
    """The message is in the form's errors of ``field`` and in the HTML beside it."""
    errors = response.context["form"].errors.get(field, [])
    html = response.content.decode()
    return message in errors and f'data-field="{field}">{escape(message)}</p>' in html


def counts() -> tuple[int, int, int, int, int, int]:
    return (
        m.Animal.objects.count(),
        m.Cohort.objects.count(),
        m.Treatment.objects.count(),
        m.BodyWeight.objects.count(),
        m.ScanSession.objects.count(),
        m.AuditEvent.objects.count(),
    )


def test_death_before_birth_shows_the_model_message_and_writes_nothing(world, pages):
    before = counts()
    response = pages("investigator").post(
        reverse("frontend:animal-new", args=[world.study.pk]),
        animal_data(status="died", end_date="2025-09-01"),
    )
    assert response.status_code == 200
    assert shown_next_to_field(response, "end_date", "The end date is before the date of birth.")
    assert counts() == before


def test_an_animal_created_on_the_page_is_audited_as_page(world, pages):
    response = pages("investigator").post(
        reverse("frontend:animal-new", args=[world.study.pk]),
        animal_data(cohort=world.cohort.pk),
    )
    animal = m.Animal.objects.get(study=world.study, label="M02")
    assert response.status_code == 302
    assert response.url == reverse("frontend:animal-detail", args=[world.study.pk, animal.pk])
    event = m.AuditEvent.objects.get(model="studies.animal", object_id=str(animal.pk))
    assert (event.action, event.source, event.username) == ("create", "page", "investigator")
    assert event.study_id == world.study.pk
    assert event.changes["cohort_id"] == [None, world.cohort.pk]


def test_an_edit_on_the_page_records_before_and_after(world, pages):
    url = reverse("frontend:animal-edit", args=[world.study.pk, world.animal.pk])
    pages("owner").post(url, animal_data(label="M01", cage="C9", date_of_birth="2025-10-01"))
    event = m.AuditEvent.objects.filter(model="studies.animal", action="update").get()
    assert event.source == "page"
    assert event.changes["cage"] == ["", "C9"]


def test_a_duplicate_label_is_refused_on_the_label_field(world, pages):
    before = counts()
    response = pages("owner").post(
        reverse("frontend:animal-new", args=[world.study.pk]), animal_data(label="M01")
    )
    assert shown_next_to_field(response, "label", "Another animal of this study has this label.")
    assert counts() == before


def test_the_same_label_is_fine_in_another_study(world, pages):
    world.other_study.memberships.create(user=world.users["owner"], role="owner")
    response = pages("owner").post(
        reverse("frontend:animal-new", args=[world.other_study.pk]), animal_data(label="M01")
    )
    assert response.status_code == 302
    assert m.Animal.objects.filter(label="M01").count() == 2


def test_a_cohort_of_another_study_is_not_a_choice(world, pages):
    response = pages("owner").post(
        reverse("frontend:animal-new", args=[world.study.pk]),
        animal_data(cohort=world.other_cohort.pk),
    )
    assert "cohort" in response.context["form"].errors
    assert not m.Animal.objects.filter(label="M02").exists()


def test_a_duplicate_cohort_name_is_refused_on_the_name_field(world, pages):
    response = pages("investigator").post(
        reverse("frontend:cohort-new", args=[world.study.pk]), {"name": "OVX", "planned_n": 3}
    )
    assert shown_next_to_field(response, "name", "Another cohort of this study has this name.")
    assert m.Cohort.objects.filter(study=world.study).count() == 1


def test_a_drug_without_a_dose_is_refused_with_the_model_message(world, pages):
    before = counts()
    response = pages("investigator").post(
        reverse("frontend:treatment-new", args=[world.study.pk]),
        {"cohort": world.cohort.pk, "kind": "drug", "agent": "PTH", "route": "sc", "start_day": 0},
    )
    assert shown_next_to_field(response, "dose", "A drug treatment needs a dose.")
    assert shown_next_to_field(response, "dose_unit", "Give the dose unit.")
    assert counts() == before


def test_a_treatment_is_saved_in_the_chosen_cohort(world, pages):
    pages("investigator").post(
        reverse("frontend:treatment-new", args=[world.study.pk]),
        {
            "cohort": world.cohort.pk,
            "kind": "drug",
            "agent": "PTH(1-34)",
            "dose": "40",
            "dose_unit": "ug/kg",
            "route": "sc",
            "start_day": 0,
            "interval_days": 1,
            "end_day": 27,
        },
    )
    treatment = m.Treatment.objects.get(agent="PTH(1-34)")
    assert treatment.cohort == world.cohort
    assert len(treatment.schedule_days()) == 28


def test_planning_doses_adds_one_per_schedule_day_and_keeps_existing_ones(world, pages):
    url = reverse("frontend:treatment-plan", args=[world.study.pk, world.treatment.pk])
    response = pages("investigator").post(url, follow=True)
    planned = m.Administration.objects.filter(treatment=world.treatment, animal=world.animal)
    assert sorted(world.study.study_day(a.planned_at) for a in planned) == [0, 7, 14]
    assert "Planned 2 new administrations of zoledronate." in response.content.decode()
    assert m.AuditEvent.objects.filter(model="studies.administration", source="page").count() == 2


def test_a_weight_before_birth_is_refused(world, pages):
    before = counts()
    response = pages("operator").post(
        reverse("frontend:weight-new", args=[world.study.pk, world.animal.pk]),
        {"measured_on": "2025-09-01", "grams": "19.5"},
    )
    assert shown_next_to_field(response, "measured_on", "Before the animal's date of birth.")
    assert counts() == before


def test_a_weight_records_who_measured_it(world, pages):
    pages("operator").post(
        reverse("frontend:weight-new", args=[world.study.pk, world.animal.pk]),
        {"measured_on": "2026-01-12", "grams": "21.5"},
    )
    weight = m.BodyWeight.objects.get(animal=world.animal, measured_on=dt.date(2026, 1, 12))
    assert weight.grams == Decimal("21.5")
    assert weight.measured_by == world.users["operator"]


def test_completing_a_dose_needs_the_dose_given(world, pages):
    url = reverse(
        "frontend:administration-complete", args=[world.study.pk, world.administration.pk]
    )
    response = pages("operator").post(url, {"actual_at": "2026-01-05T09:30"})
    assert shown_next_to_field(
        response, "dose_given", "Record the dose given with the administration time."
    )
    world.administration.refresh_from_db()
    assert world.administration.actual_at is None


def test_completing_a_dose_records_the_operator(world, pages):
    url = reverse(
        "frontend:administration-complete", args=[world.study.pk, world.administration.pk]
    )
    form = pages("operator").get(url).context["form"]
    assert form.initial["dose_given"] == Decimal("100")  # the treatment's dose, prefilled
    assert form.initial["body_weight_used_g"] == Decimal("20.0")  # the latest weight
    pages("operator").post(
        url, {"actual_at": "2026-01-05T09:30", "dose_given": "100", "lot_number": "L7"}
    )
    world.administration.refresh_from_db()
    assert world.administration.administered_by == world.users["operator"]
    assert world.study.study_day(world.administration.actual_at) == 0
    event = m.AuditEvent.objects.get(model="studies.administration", action="update")
    assert event.source == "page"
    assert event.changes["lot_number"] == ["", "L7"]


def test_a_scan_long_before_the_study_start_is_refused(world, pages):
    before = counts()
    response = pages("operator").post(
        reverse("frontend:session-new", args=[world.study.pk]),
        {"animal": world.animal.pk, "site": "L5-vertebra", "planned_at": "2025-11-01T10:00"},
    )
    assert shown_next_to_field(response, "planned_at", "More than 30 days before the study start.")
    assert counts() == before


def test_an_animal_that_died_cannot_be_chosen_for_a_new_scan(world, pages):
    world.animal.status, world.animal.end_date = "died", dt.date(2026, 1, 6)
    world.animal.save()
    response = pages("operator").post(
        reverse("frontend:session-new", args=[world.study.pk]),
        {"animal": world.animal.pk, "site": "L5-vertebra", "planned_at": "2026-01-20T10:00"},
    )
    assert "animal" in response.context["form"].errors
    assert world.animal.scan_sessions.count() == 1


def test_a_planned_scan_opens_its_session_page(world, pages):
    url = reverse("frontend:session-new", args=[world.study.pk]) + f"?animal={world.animal.pk}"
    assert pages("operator").get(url).context["form"].initial["animal"] == world.animal.pk
    response = pages("operator").post(
        url, {"animal": world.animal.pk, "site": "L5-vertebra", "planned_at": "2026-01-20T10:00"}
    )
    session = world.animal.scan_sessions.get(site="L5-vertebra")
    assert response.url == reverse("frontend:session-detail", args=[world.study.pk, session.pk])
    assert session.study_day == 15


def test_anyone_may_start_a_study_and_becomes_its_owner(world, pages):
    response = pages("outsider").post(
        reverse("frontend:study-new"),
        {
            "title": "PTH anabolic window",
            "ethics_licence": "L-77",
            "principal_investigator": "Dr. B",
            "start_date": "2026-03-02",
            "status": "planning",
            "dose_budget_mgy": "1500",
            "weight_loss_warning_pct": "15",
            "weight_loss_endpoint_pct": "20",
        },
    )
    study = m.Study.objects.get(title="PTH anabolic window")
    assert response.url == reverse("frontend:study-detail", args=[study.pk])
    assert study.role_of(world.users["outsider"]) == "owner"


@pytest.mark.parametrize("who", ["investigator", "owner"])
def test_a_warning_after_the_endpoint_is_refused(world, pages, who):
    data = {
        "title": "A",
        "ethics_licence": "L-1",
        "principal_investigator": "PI",
        "start_date": "2026-01-05",
        "status": "active",
        "dose_budget_mgy": "1500",
        "weight_loss_warning_pct": "25",
        "weight_loss_endpoint_pct": "20",
    }
    response = pages(who).post(reverse("frontend:study-edit", args=[world.study.pk]), data)
    assert shown_next_to_field(
        response, "weight_loss_warning_pct", "The warning must come before the endpoint."
    )
    world.study.refresh_from_db()
    assert world.study.status == "planning"

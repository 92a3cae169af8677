"""A small world of records: study A with a member per role, study B with its owner."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from studies import models as m

ROLES = ["owner", "investigator", "operator", "viewer"]
START = dt.date(2026, 1, 5)


@dataclass
class World:
    study: m.Study
    other_study: m.Study
    users: dict[str, object]
    cohort: m.Cohort
    animal: m.Animal
    treatment: m.Treatment
    administration: m.Administration
    weight: m.BodyWeight
    session: m.ScanSession
    other_cohort: m.Cohort
    other_animal: m.Animal
    extra: dict = field(default_factory=dict)

    def client(self, who: str | None) -> APIClient:
        client = APIClient()
        if who is not None:
            client.force_authenticate(self.users[who])
        return client


def make_user(name: str):
    return get_user_model().objects.create_user(name, password=f"pw-{name}-123456")


@pytest.fixture
def world(db) -> World:
    users = {role: make_user(role) for role in ROLES}
    users["outsider"] = make_user("outsider")
    study = m.Study.objects.create(
        title="A", ethics_licence="L-1", principal_investigator="PI", start_date=START
    )
    for role in ROLES:
        m.Membership.objects.create(study=study, user=users[role], role=role)
    other = m.Study.objects.create(
        title="B", ethics_licence="L-2", principal_investigator="PI2", start_date=START
    )
    m.Membership.objects.create(study=other, user=users["outsider"], role="owner")
    cohort = m.Cohort.objects.create(study=study, name="OVX", planned_n=6)
    animal = m.Animal.objects.create(
        study=study, cohort=cohort, label="M01", sex="female", date_of_birth=dt.date(2025, 10, 1)
    )
    treatment = m.Treatment.objects.create(
        cohort=cohort,
        kind="drug",
        agent="zoledronate",
        dose=Decimal("100"),
        dose_unit="ug/kg",
        route="sc",
        start_day=0,
        interval_days=7,
        n_administrations=3,
    )
    administration = m.Administration.objects.create(
        treatment=treatment, animal=animal, planned_at=study.datetime_of_day(0, dt.time(9))
    )
    weight = m.BodyWeight.objects.create(animal=animal, measured_on=START, grams=Decimal("20.0"))
    session = m.ScanSession.objects.create(
        animal=animal, site="tibia-right-proximal", planned_at=study.datetime_of_day(7, dt.time(10))
    )
    other_cohort = m.Cohort.objects.create(study=other, name="Sham")
    other_animal = m.Animal.objects.create(
        study=other, cohort=other_cohort, label="X01", sex="male"
    )
    return World(
        study=study,
        other_study=other,
        users=users,
        cohort=cohort,
        animal=animal,
        treatment=treatment,
        administration=administration,
        weight=weight,
        session=session,
        other_cohort=other_cohort,
        other_animal=other_animal,
    )

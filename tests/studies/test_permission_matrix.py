"""Every API endpoint × every role × read/write: the exact status code.

Members read what their study holds; a role too weak for an action gets 403; a member
of another study gets 404 for the object (400 "does not exist" when creating under it,
the same answer as for a missing parent); an anonymous client gets 401.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from studies import models as m
from studies.models import role_at_least

from .conftest import START, World, make_user

ACTORS = ["owner", "investigator", "operator", "viewer", "outsider", None]


@dataclass(frozen=True)
class Endpoint:
    name: str
    obj: Callable[[World], Any]
    read_role: str | None  # None: no read route for this endpoint
    write_role: str | None  # None: read-only endpoint (PATCH and POST answer 405)
    create: Callable[[World], dict] | None = None
    update: dict | None = None
    anyone_creates: bool = False


def _export(world: World) -> m.StudyExport:
    return m.StudyExport.objects.create(study=world.study, requested_by=world.users["owner"])


def _new_membership(world: World) -> dict:
    make_user("newbie")
    return {"study": world.study.pk, "user": "newbie", "role": "viewer"}


ENDPOINTS = [
    Endpoint(
        "studies",
        lambda w: w.study,
        "viewer",
        "investigator",
        create=lambda w: {
            "title": "New",
            "ethics_licence": "L-9",
            "principal_investigator": "Me",
            "start_date": "2026-02-01",
        },
        update={"description": "changed"},
        anyone_creates=True,
    ),
    Endpoint(
        "memberships",
        lambda w: m.Membership.objects.get(study=w.study, user=w.users["viewer"]),
        "viewer",
        "owner",
        create=_new_membership,
        update={"role": "operator"},
    ),
    Endpoint(
        "cohorts",
        lambda w: w.cohort,
        "viewer",
        "investigator",
        create=lambda w: {"study": w.study.pk, "name": "New cohort"},
        update={"description": "changed"},
    ),
    Endpoint(
        "animals",
        lambda w: w.animal,
        "viewer",
        "investigator",
        create=lambda w: {"study": w.study.pk, "label": "N1", "sex": "male"},
        update={"cage": "C9"},
    ),
    Endpoint(
        "treatments",
        lambda w: w.treatment,
        "viewer",
        "investigator",
        create=lambda w: {
            "cohort": w.cohort.pk,
            "kind": "surgery",
            "agent": "ovariectomy",
            "route": "surgical",
            "start_day": 0,
        },
        update={"notes": "changed"},
    ),
    Endpoint(
        "administrations",
        lambda w: w.administration,
        "viewer",
        "operator",
        create=lambda w: {
            "treatment": w.treatment.pk,
            "animal": w.animal.pk,
            "planned_at": "2026-01-12T09:00:00Z",
        },
        update={"lot_number": "LOT-7"},
    ),
    Endpoint(
        "body-weights",
        lambda w: w.weight,
        "viewer",
        "operator",
        create=lambda w: {
            "animal": w.animal.pk,
            "measured_on": str(START + dt.timedelta(days=7)),
            "grams": "21.5",
        },
        update={"notes": "changed"},
    ),
    Endpoint(
        "scan-sessions",
        lambda w: w.session,
        "viewer",
        "operator",
        create=lambda w: {
            "animal": w.animal.pk,
            "site": "L5-vertebra",
            "planned_at": "2026-01-19T10:00:00Z",
        },
        update={"notes": "changed"},
    ),
    Endpoint(
        "audit-events",
        lambda w: m.AuditEvent.objects.filter(study=w.study).first(),
        "investigator",
        None,
    ),  # fmt: skip
    Endpoint("exports", _export, "viewer", None, create=lambda w: {"study": w.study.pk}),
]


def _member_status(actor: str, needed: str, ok: int) -> int:
    return ok if role_at_least(actor, needed) else 403


def expected(endpoint: Endpoint, actor: str | None, operation: str) -> int:
    if actor is None:
        return 401
    if operation == "read":
        if actor == "outsider":
            return 404
        return _member_status(actor, endpoint.read_role, 200)
    if operation == "update":
        if endpoint.write_role is None:
            return 405
        if actor == "outsider":
            return 404
        return _member_status(actor, endpoint.write_role, 200)
    if operation == "create":
        if endpoint.create is None:
            return 405
        if endpoint.anyone_creates:
            return 201
        needed = endpoint.write_role or endpoint.read_role
        if actor == "outsider":
            return 400
        return _member_status(actor, needed, 201)
    raise ValueError(operation)


@pytest.mark.parametrize("actor", ACTORS, ids=lambda a: a or "anonymous")
@pytest.mark.parametrize("operation", ["read", "update", "create"])
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_status_code(world: World, endpoint: Endpoint, operation: str, actor: str | None):
    client = world.client(actor)
    obj = endpoint.obj(world)
    detail = f"/api/v1/{endpoint.name}/{obj.pk}/"
    if operation == "read":
        response = client.get(detail)
    elif operation == "update":
        response = client.patch(detail, endpoint.update or {"notes": "x"}, format="json")
    else:
        payload = endpoint.create(world) if endpoint.create else {}
        response = client.post(f"/api/v1/{endpoint.name}/", payload, format="json")
    assert response.status_code == expected(endpoint, actor, operation), response.content


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_lists_hold_only_visible_records(world: World, endpoint: Endpoint):
    obj = endpoint.obj(world)
    ids_for = {}
    for actor in ["viewer", "outsider", "investigator"]:
        response = world.client(actor).get(f"/api/v1/{endpoint.name}/?page_size=1000")
        assert response.status_code == 200
        ids_for[actor] = {row["id"] for row in response.json()["results"]}
    assert obj.pk not in ids_for["outsider"]
    assert obj.pk in ids_for["investigator"]
    assert (obj.pk in ids_for["viewer"]) == role_at_least("viewer", endpoint.read_role)


def test_anonymous_list_is_401(world: World):
    assert world.client(None).get("/api/v1/animals/").status_code == 401


def test_superuser_sees_every_study(world: World):
    admin = make_user("root")
    admin.is_superuser = True
    admin.save()
    world.users["root"] = admin
    response = world.client("root").get("/api/v1/studies/")
    assert {row["title"] for row in response.json()["results"]} == {"A", "B"}


def test_owner_deletes_study_investigator_cannot(world: World):
    empty = m.Study.objects.create(
        title="Empty", ethics_licence="L-3", principal_investigator="PI", start_date=START
    )
    m.Membership.objects.create(study=empty, user=world.users["owner"], role="owner")
    m.Membership.objects.create(study=empty, user=world.users["investigator"], role="investigator")
    url = f"/api/v1/studies/{empty.pk}/"
    assert world.client("investigator").delete(url).status_code == 403
    assert world.client("owner").delete(url).status_code == 204
    assert not m.Study.objects.filter(pk=empty.pk).exists()


def test_study_with_animals_is_not_deleted(world: World):
    response = world.client("owner").delete(f"/api/v1/studies/{world.study.pk}/")
    assert response.status_code == 409
    assert "animals" in response.json()["detail"]
    assert m.Animal.objects.filter(pk=world.animal.pk).exists()

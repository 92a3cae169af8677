"""The audit trail: API, page and admin changes are recorded; nothing edits the trail."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from studies import models as m

from .conftest import World


def _events(model: str, object_id) -> list[m.AuditEvent]:
    return list(m.AuditEvent.objects.filter(model=model, object_id=str(object_id)).order_by("id"))


def test_api_update_records_fields_user_and_request_id(world: World):
    response = world.client("investigator").patch(
        f"/api/v1/animals/{world.animal.pk}/",
        {"cage": "C7", "genotype": "wt"},
        format="json",
        HTTP_X_REQUEST_ID="req-123",
        HTTP_X_AUDIT_REASON="moved cage",
    )
    assert response.status_code == 200
    assert response["X-Request-ID"] == "req-123"
    event = _events("studies.animal", world.animal.pk)[-1]
    assert event.action == "update"
    assert event.changes == {"cage": ["", "C7"], "genotype": ["", "wt"]}
    assert (event.username, event.source, event.request_id, event.reason) == (
        "investigator",
        "api",
        "req-123",
        "moved cage",
    )
    assert event.study_id == world.study.pk


def test_api_create_and_delete(world: World):
    client = world.client("operator")
    created = client.post(
        "/api/v1/body-weights/",
        {"animal": world.animal.pk, "measured_on": "2026-01-12", "grams": "19.5"},
        format="json",
    ).json()
    assert client.delete(f"/api/v1/body-weights/{created['id']}/").status_code == 204
    actions = [(e.action, e.username) for e in _events("studies.bodyweight", created["id"])]
    assert actions == [("create", "operator"), ("delete", "operator")]
    deleted = _events("studies.bodyweight", created["id"])[-1]
    assert deleted.changes["grams"] == ["19.50", None]


def test_page_change_is_audited(world: World, client):
    client.force_login(world.users["investigator"])
    url = f"/studies/{world.study.pk}/animals/{world.animal.pk}/edit/"
    form = {"label": "M01", "sex": "female", "species": "Mus musculus", "status": "alive",
            "cohort": world.cohort.pk, "cage": "P4", "date_of_birth": "2025-10-01"}  # fmt: skip
    response = client.post(url, form)
    assert response.status_code == 302
    event = _events("studies.animal", world.animal.pk)[-1]
    assert (event.source, event.username, event.changes) == (
        "page",
        "investigator",
        {"cage": ["", "P4"]},
    )


def test_page_refuses_viewer_and_outsider(world: World, client):
    url = f"/studies/{world.study.pk}/animals/{world.animal.pk}/edit/"
    client.force_login(world.users["viewer"])
    assert client.get(url).status_code == 403
    client.force_login(world.users["outsider"])
    assert client.get(url).status_code == 404


def test_page_form_shows_validation_message(world: World, client):
    client.force_login(world.users["investigator"])
    response = client.post(
        f"/studies/{world.study.pk}/animals/new/",
        {"label": "N2", "sex": "male", "species": "Mus musculus", "status": "died",
         "date_of_birth": "2025-10-01", "end_date": "2025-09-01"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "before the date of birth" in response.content.decode()
    assert not m.Animal.objects.filter(label="N2").exists()


def test_admin_change_is_audited(world: World, client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", password="pw-root-123456")
    client.force_login(admin)
    url = f"/admin/studies/cohort/{world.cohort.pk}/change/"
    response = client.post(
        url,
        {"study": world.study.pk, "name": "OVX", "description": "via admin", "planned_n": 8},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    event = _events("studies.cohort", world.cohort.pk)[-1]
    assert event.source == "admin" and event.username == "root"
    assert event.changes == {"description": ["", "via admin"], "planned_n": [6, 8]}


def test_audit_events_are_append_only_everywhere(world: World, client, django_user_model):
    event = m.AuditEvent.objects.filter(study=world.study).first()
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        m.AuditEvent.objects.filter(pk=event.pk).update(reason="x")
    owner = world.client("owner")
    assert owner.patch(f"/api/v1/audit-events/{event.pk}/", {"reason": "x"}).status_code == 405
    assert owner.delete(f"/api/v1/audit-events/{event.pk}/").status_code == 405
    admin = django_user_model.objects.create_superuser("root", password="pw-root-123456")
    client.force_login(admin)
    delete_url = f"/admin/studies/auditevent/{event.pk}/delete/"
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert m.AuditEvent.objects.filter(pk=event.pk).exists()


def test_database_trigger_refuses_raw_update(world: World):
    if connection.vendor != "postgresql":
        pytest.skip("the trigger is PostgreSQL's")
    event = m.AuditEvent.objects.filter(study=world.study).first()
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE studies_auditevent SET reason='x' WHERE id=%s", [event.pk])


def test_owner_reads_events_of_own_study_only(world: World):
    m.Animal.objects.create(study=world.other_study, label="X02", sex="male")
    rows = world.client("owner").get("/api/v1/audit-events/?page_size=1000").json()["results"]
    assert rows and {row["study"] for row in rows} == {world.study.pk}
    assert world.client("operator").get("/api/v1/audit-events/").json()["count"] == 0

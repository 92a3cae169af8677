"""Bad input: a 400 with a message on the offending field, and nothing written."""

from __future__ import annotations

import pytest

from studies import models as m

from .conftest import World


def _post(world: World, who: str, endpoint: str, payload: dict):
    return world.client(who).post(f"/api/v1/{endpoint}/", payload, format="json")


def _assert_rejected(response, field: str, fragment: str) -> None:
    assert response.status_code == 400, response.content
    messages = " ".join(str(m) for m in response.json()[field])
    assert fragment in messages, messages


def test_death_before_birth(world: World):
    before = m.Animal.objects.count()
    response = _post(
        world,
        "investigator",
        "animals",
        {
            "study": world.study.pk,
            "label": "D1",
            "sex": "female",
            "date_of_birth": "2025-10-01",
            "status": "died",
            "end_date": "2025-09-01",
            "end_reason": "found dead",
        },
    )
    _assert_rejected(response, "end_date", "before the date of birth")
    assert m.Animal.objects.count() == before


def test_dead_animal_needs_end_date(world: World):
    response = world.client("investigator").patch(
        f"/api/v1/animals/{world.animal.pk}/", {"status": "euthanised"}, format="json"
    )
    _assert_rejected(response, "end_date", "needs an end date")
    world.animal.refresh_from_db()
    assert world.animal.status == "alive"


def test_administration_before_study_start(world: World):
    before = m.Administration.objects.count()
    response = _post(
        world,
        "operator",
        "administrations",
        {
            "treatment": world.treatment.pk,
            "animal": world.animal.pk,
            "planned_at": "2026-01-01T09:00:00Z",
        },
    )
    _assert_rejected(response, "planned_at", "before the study start")
    assert m.Administration.objects.count() == before


@pytest.mark.parametrize("dose", ["-5", "0"])
def test_non_positive_treatment_dose(world: World, dose: str):
    response = _post(
        world,
        "investigator",
        "treatments",
        {
            "cohort": world.cohort.pk,
            "kind": "drug",
            "agent": "PTH",
            "dose": dose,
            "dose_unit": "ug/kg",
            "route": "sc",
            "start_day": 0,
        },
    )
    _assert_rejected(response, "dose", "greater than zero")
    assert not m.Treatment.objects.filter(agent="PTH").exists()


@pytest.mark.parametrize("grams", ["-1", "0"])
def test_non_positive_weight(world: World, grams: str):
    response = _post(
        world, "operator", "body-weights",
        {"animal": world.animal.pk, "measured_on": "2026-01-10", "grams": grams},
    )  # fmt: skip
    _assert_rejected(response, "grams", "greater than zero")
    assert m.BodyWeight.objects.count() == 1


def test_unit_outside_vocabulary(world: World):
    response = _post(
        world,
        "investigator",
        "treatments",
        {
            "cohort": world.cohort.pk,
            "kind": "drug",
            "agent": "PTH",
            "dose": "40",
            "dose_unit": "spoonfuls",
            "route": "sc",
            "start_day": 0,
        },
    )
    _assert_rejected(response, "dose_unit", "not a valid choice")


def test_duplicate_label_in_study(world: World):
    response = _post(
        world, "investigator", "animals", {"study": world.study.pk, "label": "M01", "sex": "male"}
    )
    assert response.status_code == 400
    assert "unique" in str(response.json()).lower() or "label" in response.json()
    assert m.Animal.objects.filter(study=world.study, label="M01").count() == 1


def test_same_label_in_another_study_is_fine(world: World):
    response = _post(
        world, "outsider", "animals",
        {"study": world.other_study.pk, "label": "M01", "sex": "male"},
    )  # fmt: skip
    assert response.status_code == 201


def test_scan_session_for_dead_animal(world: World):
    world.animal.status = "died"
    world.animal.end_date = world.study.start_date
    world.animal.end_reason = "found dead"
    world.animal.save()
    response = _post(
        world, "operator", "scan-sessions",
        {"animal": world.animal.pk, "site": "L5-vertebra", "planned_at": "2026-01-20T10:00:00Z"},
    )  # fmt: skip
    _assert_rejected(response, "animal", "cannot be scanned")
    assert m.ScanSession.objects.count() == 1


def test_cohort_of_another_study(world: World):
    # The outsider owns B; make them investigator of A too, so both cohorts are visible.
    m.Membership.objects.create(study=world.study, user=world.users["outsider"], role="owner")
    response = _post(
        world,
        "outsider",
        "animals",
        {
            "study": world.study.pk,
            "cohort": world.other_cohort.pk,
            "label": "Z1",
            "sex": "male",
        },
    )
    _assert_rejected(response, "cohort", "another study")
    assert not m.Animal.objects.filter(label="Z1").exists()


def test_administration_animal_of_another_study(world: World):
    m.Membership.objects.create(study=world.study, user=world.users["outsider"], role="owner")
    response = _post(
        world,
        "outsider",
        "administrations",
        {
            "treatment": world.treatment.pk,
            "animal": world.other_animal.pk,
            "planned_at": "2026-01-12T09:00:00Z",
        },
    )
    _assert_rejected(response, "animal", "another study")


def test_invisible_parent_reads_as_missing(world: World):
    response = _post(
        world, "viewer", "animals", {"study": world.other_study.pk, "label": "Q", "sex": "male"}
    )
    _assert_rejected(response, "study", "does not exist")


def test_treatment_end_before_start(world: World):
    response = _post(
        world,
        "investigator",
        "treatments",
        {
            "cohort": world.cohort.pk,
            "kind": "vehicle",
            "agent": "saline",
            "dose": "5",
            "dose_unit": "mL/kg",
            "route": "sc",
            "start_day": 14,
            "interval_days": 7,
            "end_day": 7,
        },
    )
    _assert_rejected(response, "end_day", "before the start day")


def test_scan_session_state_machine(world: World):
    url = f"/api/v1/scan-sessions/{world.session.pk}/transition/"
    client = world.client("operator")
    bad = client.post(url, {"state": "analysed"}, format="json")
    _assert_rejected(bad, "state", "cannot become analysed")
    ok = client.post(url, {"state": "aborted"}, format="json")
    assert ok.status_code == 200 and ok.json()["state"] == "aborted"
    back = client.post(url, {"state": "planned"}, format="json")
    assert back.status_code == 200 and back.json()["state"] == "planned"


@pytest.mark.parametrize("state", ["planned", "failed", "interrupted"])
def test_a_session_is_never_queued_by_hand(world: World, state: str):
    """Queued means "an acquisition job waits for it": only the scan request makes one."""
    m.ScanSession.objects.filter(pk=world.session.pk).update(state=state)
    url = f"/api/v1/scan-sessions/{world.session.pk}/transition/"
    client = world.client("operator")
    response = client.post(
        url, {"state": "queued"}, format="json", HTTP_X_AUDIT_REASON="door fixed"
    )
    _assert_rejected(response, "state", "/api/v1/acquisitions/")
    world.session.refresh_from_db()
    assert world.session.state == state
    assert not m.AuditEvent.objects.filter(model="studies.scansession", action="update").exists()


def test_a_session_never_starts_acquiring_by_hand(world: World):
    m.ScanSession.objects.filter(pk=world.session.pk).update(state="queued")
    url = f"/api/v1/scan-sessions/{world.session.pk}/transition/"
    response = world.client("operator").post(url, {"state": "acquiring"}, format="json")
    _assert_rejected(response, "state", "instrument worker")
    world.session.refresh_from_db()
    assert world.session.state == "queued"


def test_manual_targets_leave_out_the_states_that_need_a_job(world: World):
    session = world.session
    assert session.manual_targets() == ["aborted"]  # planned: not "queued"
    session.transition_to("queued")
    assert session.manual_targets() == ["planned", "aborted"]  # not "acquiring"
    session.transition_to("acquiring")
    assert session.manual_targets() == ["acquired", "failed", "aborted", "interrupted"]
    session.transition_to("interrupted")
    assert session.manual_targets() == []  # re-queued only through its acquisition


def test_last_owner_cannot_step_down(world: World):
    owner = m.Membership.objects.get(study=world.study, role="owner")
    url = f"/api/v1/memberships/{owner.pk}/"
    response = world.client("owner").patch(url, {"role": "viewer"}, format="json")
    _assert_rejected(response, "role", "at least one owner")
    assert world.client("owner").delete(url).status_code == 400
    owner.refresh_from_db()
    assert owner.role == "owner"

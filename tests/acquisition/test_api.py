"""The acquisition API: instruments, protocols, acquisitions, scans, the ledger — and who may.

Foreign study → 404 (400 "does not exist" when creating under it), too weak a role → 403,
operators start and control scans, investigators override the dose budget.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from acquisition import jobs
from acquisition import models as am
from studies.models import AuditEvent

from .conftest import TINY_DOSE_MGY, TINY_PROTOCOL

pytestmark = pytest.mark.django_db

URL = "/api/v1/acquisitions/"


def _start(world, protocol, who="operator", **extra):
    body = {"session": world.session.pk, "protocol": protocol.pk, "paced": False, **extra}
    return world.client(who).post(URL, body, format="json")


def _running(world, protocol) -> am.AcquisitionJob:
    job = jobs.request_acquisition(world.session, protocol, user=world.users["operator"])
    jobs.claim(job.pk, owner="worker")
    return job


# --- instruments and protocols ------------------------------------------------------


def test_members_read_instruments_and_only_staff_write(world, instrument, staff):
    assert world.client("viewer").get("/api/v1/instruments/").json()["count"] == 1
    body = {"name": "XRM-2", "driver": "simulated", "driver_config": {"detector_shape": [64, 64]}}
    assert world.client("owner").post("/api/v1/instruments/", body, format="json").status_code == (
        403
    )
    client = world.client("viewer")
    client.force_authenticate(staff)
    created = client.post("/api/v1/instruments/", body, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["dose_constant_mgy_per_uas"] == pytest.approx(0.12)


def test_instrument_with_unknown_driver_is_400(world, staff):
    client = world.client(None)
    client.force_authenticate(staff)
    response = client.post(
        "/api/v1/instruments/", {"name": "X", "driver": "vendor-x"}, format="json"
    )
    assert response.status_code == 400
    assert "unknown driver 'vendor-x'" in response.json()["driver"][0]


def test_instrument_driver_status_reports_interlocks(world, instrument):
    response = world.client("viewer").get(f"/api/v1/instruments/{instrument.pk}/driver-status/")
    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "idle"
    assert body["interlocks"]["door_closed"] is True
    assert body["interlocks"]["problems"] == ["X-ray source is off"]


def test_protocol_edit_answers_a_new_version(world, protocol, staff):
    client = world.client(None)
    client.force_authenticate(staff)
    response = client.patch(
        f"/api/v1/scan-protocols/{protocol.pk}/", {"n_projections": 36}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["version"], body["previous"], body["is_current"]) == (2, protocol.pk, True)
    assert body["nominal_dose_mgy"] == pytest.approx(3 * TINY_DOSE_MGY)
    assert body["created_by"] == "staff"
    old = client.get(f"/api/v1/scan-protocols/{protocol.pk}/").json()
    assert (old["n_projections"], old["is_current"]) == (12, False)
    assert client.delete(f"/api/v1/scan-protocols/{protocol.pk}/").status_code == 405


def test_protocol_rules_answer_400_per_field(world, instrument, staff):
    client = world.client(None)
    client.force_authenticate(staff)
    body = {**TINY_PROTOCOL, "instrument": instrument.pk, "name": "bad", "exposure_s": 0.5}
    response = client.post("/api/v1/scan-protocols/", body, format="json")
    assert response.status_code == 400
    assert "at most 0.3333 s" in response.json()["exposure_s"][0]


def test_non_staff_cannot_edit_protocols(world, protocol):
    response = world.client("owner").patch(
        f"/api/v1/scan-protocols/{protocol.pk}/", {"kv": 50}, format="json"
    )
    assert response.status_code == 403


# --- starting scans ----------------------------------------------------------------------


def test_operator_starts_a_scan(world, protocol, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _start(world, protocol)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["state"], body["session_state"], body["requested_by"]) == (
        "queued",
        "queued",
        "operator",
    )
    assert body["nominal_dose_mgy"] == pytest.approx(TINY_DOSE_MGY)
    assert len(callbacks) == 1  # the task is sent once the request commits


@pytest.mark.parametrize(("who", "status"), [("viewer", 403), ("outsider", 400), (None, 401)])
def test_weaker_roles_cannot_start_scans(world, protocol, who, status):
    assert _start(world, protocol, who).status_code == status
    assert not am.AcquisitionJob.objects.exists()


def test_over_budget_is_400_with_the_figures(world, protocol):
    world.study.dose_budget_mgy = 2.0
    world.study.save()
    response = _start(world, protocol)
    assert response.status_code == 400
    message = response.json()["dose"][0]
    assert "Refused before any exposure" in message
    assert "to 3.6 mGy, past the study's budget of 2.0 mGy" in message
    world.session.refresh_from_db()
    assert world.session.state == "planned"


def test_only_an_investigator_overrides_the_budget(world, protocol):
    world.study.dose_budget_mgy = 2.0
    world.study.save()
    assert _start(world, protocol, override_reason="last point").status_code == 403
    response = _start(world, protocol, "investigator", override_reason="last time point")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["dose_override_reason"] == "last time point"
    assert body["dose_override_by"] == "investigator"
    event = AuditEvent.objects.get(model="acquisition.acquisitionjob", action="create")
    assert (event.reason, event.username, event.source) == (
        "last time point",
        "investigator",
        "api",
    )


def test_acquisitions_are_read_only_apart_from_actions(world, protocol):
    job_id = _start(world, protocol).json()["id"]
    client = world.client("owner")
    assert client.patch(f"{URL}{job_id}/", {"paced": True}, format="json").status_code == 405
    assert client.delete(f"{URL}{job_id}/").status_code == 405


def test_foreign_study_acquisition_is_404(world, protocol):
    job_id = _start(world, protocol).json()["id"]
    outsider = world.client("outsider")
    assert outsider.get(f"{URL}{job_id}/").status_code == 404
    assert outsider.post(f"{URL}{job_id}/abort/").status_code == 404
    assert outsider.get(URL).json()["count"] == 0
    assert world.client("viewer").get(f"{URL}{job_id}/").status_code == 200


# --- pause, resume, abort, re-queue ------------------------------------------------------


def test_pause_and_resume_set_the_flags(world, protocol):
    job = _running(world, protocol)
    client = world.client("operator")
    paused = client.post(f"{URL}{job.pk}/pause/", {"reason": "animal moved"}, format="json")
    assert paused.status_code == 200
    assert paused.json()["pause_requested"] is True
    assert world.client("viewer").post(f"{URL}{job.pk}/resume/").status_code == 403
    resumed = client.post(f"{URL}{job.pk}/resume/")
    assert resumed.json()["pause_requested"] is False
    again = client.post(f"{URL}{job.pk}/resume/")
    assert again.status_code == 400
    assert again.json()["state"] == ["This acquisition is not paused."]
    reasons = AuditEvent.objects.filter(model="acquisition.acquisitionjob", action="update")
    assert [e.reason for e in reasons.order_by("id")] == ["animal moved", ""]


def test_pausing_a_queued_scan_is_400(world, protocol):
    job_id = _start(world, protocol).json()["id"]
    response = world.client("operator").post(f"{URL}{job_id}/pause/")
    assert response.status_code == 400


def test_abort_of_a_queued_scan(world, protocol):
    job_id = _start(world, protocol).json()["id"]
    response = world.client("operator").post(
        f"{URL}{job_id}/abort/", headers={"X-Audit-Reason": "wrong animal on the bed"}
    )
    assert response.status_code == 200
    assert (response.json()["state"], response.json()["session_state"]) == ("cancelled", "aborted")
    assert world.client("operator").post(f"{URL}{job_id}/abort/").status_code == 400


def test_requeue_needs_a_reason(world, protocol):
    job = _running(world, protocol)
    jobs.sweep_expired_leases(now=job.created_at + dt.timedelta(hours=1))
    client = world.client("operator")
    missing = client.post(f"{URL}{job.pk}/requeue/", {}, format="json")
    assert missing.status_code == 400
    assert "reason" in missing.json()
    response = client.post(
        f"{URL}{job.pk}/requeue/", headers={"X-Audit-Reason": "power cut in the lab"}
    )
    assert response.status_code == 201, response.json()
    assert response.json()["requeue_of"] == job.pk
    assert response.json()["requeue_reason"] == "power cut in the lab"
    assert response.json()["session_state"] == "queued"


def test_an_interrupted_session_is_requeued_only_with_a_job(world, protocol):
    """The session endpoint refuses to queue it (no job would run it); requeue/ does."""
    job = _running(world, protocol)
    jobs.sweep_expired_leases(now=job.created_at + dt.timedelta(hours=1))
    client = world.client("operator")
    url = f"/api/v1/scan-sessions/{world.session.pk}/transition/"
    refused = client.post(
        url, {"state": "queued"}, format="json", headers={"X-Audit-Reason": "power cut"}
    )
    assert refused.status_code == 400
    assert "/api/v1/acquisitions/<id>/requeue/" in refused.json()["state"][0]
    world.session.refresh_from_db()
    assert world.session.state == "interrupted"
    response = client.post(f"{URL}{job.pk}/requeue/", headers={"X-Audit-Reason": "power cut"})
    assert response.status_code == 201, response.json()
    world.session.refresh_from_db()
    assert world.session.state == "queued"
    queued = am.AcquisitionJob.objects.get(session=world.session, state="queued")
    assert (queued.pk, queued.requeue_of_id) == (response.json()["id"], job.pk)


# --- scans, ledger, budget --------------------------------------------------------------


def test_scan_download_matches_its_checksum(world, protocol):
    job = jobs.request_acquisition(world.session, protocol, user=world.users["operator"],
                                   paced=False)  # fmt: skip
    assert jobs.execute(job.pk, owner="w").state == "done"
    scan = am.Scan.objects.get(job=job)
    listed = world.client("viewer").get("/api/v1/scans/", {"study": world.study.pk}).json()
    assert [row["id"] for row in listed["results"]] == [scan.pk]
    response = world.client("viewer").get(f"/api/v1/scans/{scan.pk}/download/")
    payload = b"".join(response.streaming_content)
    assert hashlib.sha256(payload).hexdigest() == scan.sha256 == response["X-Checksum-SHA256"]
    assert world.client("outsider").get(f"/api/v1/scans/{scan.pk}/").status_code == 404


def test_ledger_and_remaining_budget(world, protocol):
    am.DoseRecord.objects.create(
        animal=world.animal, site=world.session.site, dose_mgy=10.0, kind="external"
    )
    _start(world, protocol)  # 3.6 mGy pending
    ledger = world.client("viewer").get("/api/v1/dose-records/", {"animal": world.animal.pk})
    assert [row["dose_mgy"] for row in ledger.json()["results"]] == [10.0]
    budget = world.client("viewer").get("/api/v1/dose-budget/", {"study": world.study.pk})
    assert budget.status_code == 200
    assert budget.json() == [
        {
            "study": world.study.pk,
            "animal": world.animal.pk,
            "animal_label": "M01",
            "site": "tibia-right-proximal",
            "delivered_mgy": 10.0,
            "pending_mgy": pytest.approx(TINY_DOSE_MGY),
            "budget_mgy": 1500.0,
            "remaining_mgy": pytest.approx(1500.0 - 10.0 - TINY_DOSE_MGY),
        }
    ]
    theirs = world.client("outsider").get("/api/v1/dose-budget/").json()
    assert {row["study"] for row in theirs} <= {world.other_study.pk}
    assert world.client("outsider").get("/api/v1/dose-records/").json()["count"] == 0


def test_instrument_in_use_cannot_be_deleted(world, protocol, staff):
    client = world.client(None)
    client.force_authenticate(staff)
    response = client.delete(f"/api/v1/instruments/{protocol.instrument_id}/")
    assert response.status_code == 409
    assert am.Instrument.objects.filter(pk=protocol.instrument_id).exists()

"""The scanning panels of the session page and the dashboard queue, per role.

Operators see and use pause/resume/abort and the start form; a viewer sees no control
and the server refuses anyway; the start form shows each protocol's dose against the
remaining budget, and an over-budget scan needs an investigator's written reason.
Reconstructions show their progress, centre, backend and timings; investigators re-run.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from acquisition import jobs
from acquisition import models as am
from recon.models import Reconstruction
from studies import models as m
from tests.acquisition.conftest import TINY_DOSE_MGY, instrument, protocol  # noqa: F401

pytestmark = pytest.mark.django_db


def _url(name: str, world, *args) -> str:
    return reverse(f"frontend:{name}", args=[world.study.pk, *args])


def detail(world) -> str:
    return _url("session-detail", world, world.session.pk)


def action(world, job, name: str) -> str:
    return _url("acquisition-action", world, world.session.pk, job.pk, name)


def _running(world, protocol, frames: int = 5):  # noqa: F811 — the imported fixture
    job = jobs.request_acquisition(world.session, protocol, user=world.users["operator"])
    jobs.claim(job.pk, owner="test-worker")
    am.AcquisitionJob.objects.filter(pk=job.pk).update(
        frames_total=16, frames_done=frames, progress=frames / 16, frame_rate_achieved_hz=2.96
    )
    job.refresh_from_db()
    return job


def _start(pages, world, who: str, protocol, **extra):  # noqa: F811
    body = {"session": world.session.pk, "protocol": protocol.pk, "paced": "true", **extra}
    return pages(who).post(_url("acquisition-start", world, world.session.pk), body)


# -- what each role sees ----------------------------------------------------------------


def test_an_operator_sees_live_progress_and_pause_and_abort(world, pages, protocol):  # noqa: F811
    job = _running(world, protocol)
    response = pages("operator").get(detail(world))
    html = response.content.decode()
    assert f'data-url="{reverse("acquisitionjob-detail", args=[job.pk])}"' in html
    assert (
        '<span data-field="frames_done">5</span> / <span data-field="frames_total">16</span>'
        in html
    )
    assert '<span data-field="frame_rate_achieved_hz" data-format="rate">2.96</span>' in html
    assert 'style="width: 31%"' in html  # 5/16 of the scan
    controls = {a: f'data-show-when="{w}"' for a, _, w in response.context["acquisition_controls"]}
    for name in ("pause", "abort"):
        assert f'action="{action(world, job, name)}"' in html
        assert f"{controls[name]}>" in html  # shown while running (not hidden)
    assert f"{controls['resume']} hidden>" in html
    assert response.context["acquisition_phase"] == "running"


def test_a_viewer_sees_the_progress_but_no_control(world, pages, protocol):  # noqa: F811
    job = _running(world, protocol)
    html = pages("viewer").get(detail(world)).content.decode()
    assert '<span data-field="frames_done">5</span>' in html
    for name in ("pause", "resume", "abort", "requeue"):
        assert action(world, job, name) not in html
    assert _url("acquisition-start", world, world.session.pk) not in html


@pytest.mark.parametrize("name", ["pause", "resume", "abort", "requeue"])
def test_the_server_refuses_a_viewer_anyway(world, pages, protocol, name):  # noqa: F811
    job = _running(world, protocol)
    assert pages("viewer").post(action(world, job, name), {"reason": "x"}).status_code == 403
    assert pages("outsider").post(action(world, job, name), {"reason": "x"}).status_code == 404
    job.refresh_from_db()
    assert (job.pause_requested, job.cancel_requested) == (False, False)
    assert not am.AcquisitionJob.objects.filter(requeue_of=job).exists()


def test_an_operator_pauses_resumes_and_aborts_through_the_page(world, pages, protocol):  # noqa: F811
    job = _running(world, protocol)
    client = pages("operator")
    assert client.post(action(world, job, "pause")).status_code == 302
    job.refresh_from_db()
    assert job.pause_requested
    page = client.get(detail(world))
    assert page.context["acquisition_phase"] == "pausing"
    assert client.post(action(world, job, "resume")).status_code == 302
    job.refresh_from_db()
    assert not job.pause_requested
    client.post(action(world, job, "abort"))
    job.refresh_from_db()
    assert job.cancel_requested
    event = m.AuditEvent.objects.filter(model="acquisition.acquisitionjob").latest("id")
    assert event.changes == {"cancel_requested": [False, True]}
    assert client.post(action(world, job, "explode")).status_code == 404


def test_a_refused_action_says_why(world, pages, protocol):  # noqa: F811
    job = jobs.request_acquisition(world.session, protocol, user=world.users["operator"])
    response = pages("operator").post(action(world, job, "pause"), follow=True)
    messages = [str(message) for message in response.context["messages"]]
    assert messages == [f"Acquisition {job.pk}: A queued acquisition cannot do that now."]


# -- starting a scan ----------------------------------------------------------------------


def test_the_start_form_shows_each_protocols_dose_and_the_budget_left(world, pages, protocol):  # noqa: F811
    am.DoseRecord.objects.create(
        animal=world.animal, site=world.session.site, dose_mgy=100.0, kind="full"
    )
    response = pages("operator").get(detail(world))
    [choice] = response.context["protocol_choices"]
    assert choice.check.planned_mgy == pytest.approx(TINY_DOSE_MGY)
    assert choice.check.remaining_mgy == pytest.approx(1400.0)
    html = response.content.decode()
    assert '<td class="num" data-remaining>1400.0 of 1500 mGy</td>' in html
    assert "within budget" in html
    assert "override_reason" not in response.context["start_form"].fields  # operators cannot
    assert (
        "override_reason" in pages("investigator").get(detail(world)).context["start_form"].fields
    )
    assert pages("viewer").get(detail(world)).context["start_form"] is None


def test_without_a_protocol_for_the_site_the_page_says_so(world, pages, protocol):  # noqa: F811
    am.ScanProtocol.objects.filter(pk=protocol.pk).update(site="L5-vertebra")
    response = pages("operator").get(detail(world))
    assert response.context["start_form"] is None
    assert 'id="no-protocol"' in response.content.decode()
    assert 'id="no-protocol"' not in pages("viewer").get(detail(world)).content.decode()


def test_an_operator_starts_a_scan_from_the_page(world, pages, protocol):  # noqa: F811
    response = _start(pages, world, "operator", protocol)
    assert response.status_code == 302
    job = am.AcquisitionJob.objects.get(session=world.session)
    assert (job.state, job.protocol, job.requested_by) == (
        "queued",
        protocol,
        world.users["operator"],
    )
    assert job.paced  # real time, as the page's hidden field asks
    world.session.refresh_from_db()
    assert world.session.state == "queued"
    # A second start is not offered while one is pending.
    assert pages("operator").get(detail(world)).context["start_form"] is None


def test_over_budget_needs_an_investigators_reason(world, pages, protocol):  # noqa: F811
    world.study.dose_budget_mgy = 2.0  # below the tiny protocol's 3.6 mGy
    world.study.save()
    refused = _start(pages, world, "operator", protocol)
    assert refused.status_code == 200
    errors = refused.context["start_form"].non_field_errors()
    assert errors[0].startswith("Refused before any exposure: this scan (3.6 mGy)")
    assert 'data-field="__all__">Refused before any exposure' in refused.content.decode()
    forced = _start(pages, world, "operator", protocol, override_reason="pilot")
    assert forced.context["start_form"].non_field_errors() == [
        "Only an investigator may override the dose budget."
    ]
    assert not am.AcquisitionJob.objects.exists()

    assert (
        _start(pages, world, "investigator", protocol, override_reason="pilot scan").status_code
        == 302
    )
    job = am.AcquisitionJob.objects.get()
    assert (job.dose_override_reason, job.dose_override_by) == (
        "pilot scan",
        world.users["investigator"],
    )


def test_weaker_roles_and_other_sessions_cannot_start(world, pages, protocol):  # noqa: F811
    assert _start(pages, world, "viewer", protocol).status_code == 403
    other = m.ScanSession.objects.create(
        animal=world.animal, site=world.session.site, planned_at=world.session.planned_at
    )
    response = pages("operator").post(
        _url("acquisition-start", world, world.session.pk),
        {"session": other.pk, "protocol": protocol.pk},
    )
    assert response.status_code == 400
    assert not am.AcquisitionJob.objects.exists()


# -- reconstructions ----------------------------------------------------------------------


def _scan(world) -> am.Scan:
    return am.Scan.objects.create(
        session=world.session, source="imported", format="nxtomo",
        relative_path=f"study-{world.study.pk}/scan-{world.session.pk}.nxs", sha256="0" * 64,
        size_bytes=1, n_frames=16, n_projections=12, frame_shape=[8, 8],
    )  # fmt: skip


def test_reconstructions_show_progress_centre_backend_and_timings(world, pages):
    scan = _scan(world)
    rec = Reconstruction.objects.create(
        scan=scan, state="running", progress=0.4, progress_message="back-projecting",
        axis_offset_px=1.25, centre_source="found", backend="cpu",
        timings={"preprocess": 0.5, "fdk": 2.25},
    )  # fmt: skip
    html = pages("viewer").get(detail(world)).content.decode()
    assert f'data-url="{reverse("reconstruction-detail", args=[rec.pk])}"' in html
    assert '1.25 px <span class="muted">(found)</span>' in html
    assert "fdk 2.25 s · preprocess 0.50 s" in html  # longest step first
    assert '<span data-field="progress" data-format="percent">40 %</span>' in html
    assert _url("reconstruction-start", world, world.session.pk) not in html  # viewers


def test_an_investigator_re_runs_a_reconstruction_with_new_parameters(world, pages):
    scan = _scan(world)
    url = _url("reconstruction-start", world, world.session.pk)
    body = {
        "scan": scan.pk,
        "algorithm": "sirt",
        "axis_offset_px": "-0.5",
        "iterations": 20,
        "n_slabs": 2,
    }
    assert pages("operator").post(url, body).status_code == 403
    assert pages("investigator").post(url, body).status_code == 302
    rec = Reconstruction.objects.get(scan=scan)
    assert (rec.params.algorithm, rec.params.axis_offset_px, rec.params.iterations) == (
        "sirt",
        -0.5,
        20,
    )
    assert (rec.n_slabs, rec.requested_by) == (2, world.users["investigator"])

    bad = pages("investigator").post(url, {**body, "n_slabs": 65, "iterations": 0})
    assert bad.status_code == 200
    assert set(bad.context["recon_form"].errors) == {"n_slabs", "iterations"}
    assert Reconstruction.objects.count() == 1


# -- the dashboard queue ------------------------------------------------------------------


def test_the_queue_panel_shows_the_running_scan_and_reconstructions(world, pages, protocol):  # noqa: F811
    job = _running(world, protocol, frames=8)
    rec = Reconstruction.objects.create(scan=_scan(world), state="running", progress=0.25)
    dashboard = pages("viewer").get(reverse("frontend:dashboard")).content.decode()
    fragment_url = reverse("frontend:queue-panel")
    assert f'data-live-fragment="{fragment_url}"' in dashboard
    fragment = pages("viewer").get(fragment_url)
    html = fragment.content.decode()
    assert fragment.context["queue_rows"] == [(world.session, job)]
    assert f'data-acquisition="{job.pk}">8/16 frames · 2.96/s' in html
    assert f'data-reconstruction="{rec.pk}"' in html
    assert "25 %" in html
    assert "Nothing queued" in pages("outsider").get(fragment_url).content.decode()


def test_an_interrupted_scan_is_re_queued_with_a_reason(world, pages, protocol):  # noqa: F811
    job = _running(world, protocol)
    am.AcquisitionJob.objects.filter(pk=job.pk).update(state="interrupted")
    world.session.transition_to("acquiring")
    world.session.transition_to("interrupted")
    html = pages("operator").get(detail(world)).content.decode()
    assert f'action="{action(world, job, "requeue")}"' in html
    client = pages("operator")
    refused = client.post(action(world, job, "requeue"), {"reason": ""}, follow=True)
    assert "This field may not be blank." in str(list(refused.context["messages"])[0])
    assert client.post(action(world, job, "requeue"), {"reason": "power cut"}).status_code == 302
    again = am.AcquisitionJob.objects.get(requeue_of=job)
    assert (again.state, again.requeue_reason) == ("queued", "power cut")

"""The scan-session page: facts, and moves along the state machine for operators."""

from __future__ import annotations

from django.urls import reverse

from studies import models as m


def detail(world):
    return reverse("frontend:session-detail", args=[world.study.pk, world.session.pk])


def transition(world):
    return reverse("frontend:session-transition", args=[world.study.pk, world.session.pk])


def test_the_page_shows_state_day_and_the_allowed_moves(world, pages):
    response = pages("operator").get(detail(world))
    html = response.content.decode()
    assert response.context["session"].study_day == 7
    assert 'id="session-state">Planned</span>' in html
    choices = response.context["transition_form"].fields["state"].choices
    # Queueing is the start form's (with the dose budget), never a hand move.
    assert choices == [("aborted", "Abort")]
    assert 'name="state" value="queued"' not in html


def test_a_viewer_sees_no_state_buttons(world, pages):
    response = pages("viewer").get(detail(world))
    assert response.context["transition_form"] is None
    assert reverse("frontend:session-transition", args=[world.study.pk, world.session.pk]) not in (
        response.content.decode()
    )


def test_an_operator_aborts_a_session_and_the_reason_is_audited(world, pages):
    response = pages("operator").post(transition(world), {"state": "aborted", "reason": "sick"})
    assert response.status_code == 302
    world.session.refresh_from_db()
    assert world.session.state == "aborted"
    event = m.AuditEvent.objects.get(model="studies.scansession", action="update")
    assert (event.source, event.reason, event.username) == ("page", "sick", "operator")
    assert event.changes["state"] == ["planned", "aborted"]


def test_a_session_is_never_queued_by_hand(world, pages):
    response = pages("operator").post(transition(world), {"state": "queued", "reason": "slot 3"})
    assert response.status_code == 200
    assert "state" in response.context["transition_form"].errors
    world.session.refresh_from_db()
    assert world.session.state == "planned"
    assert not m.AuditEvent.objects.filter(model="studies.scansession", action="update").exists()


def test_buttons_name_what_they_do(world, pages):
    for state in ("queued", "acquiring", "acquired", "reconstructed"):
        world.session.transition_to(state)
    form = pages("operator").get(detail(world)).context["transition_form"]
    assert form.fields["state"].choices == [
        ("reconstructed", "Redo: reconstructed"),
        ("analysed", "Mark analysed"),
        ("failed", "Mark failed"),
    ]


def test_a_move_the_state_machine_forbids_is_refused(world, pages):
    response = pages("operator").post(transition(world), {"state": "analysed"})
    assert response.status_code == 200
    assert "state" in response.context["transition_form"].errors
    world.session.refresh_from_db()
    assert world.session.state == "planned"


def test_an_interrupted_session_offers_no_hand_moves(world, pages):
    """It is scanned again through its acquisition's re-queue (with a reason), not by hand."""
    for state in ("queued", "acquiring", "interrupted"):
        world.session.transition_to(state)
    form = pages("operator").get(detail(world)).context["transition_form"]
    assert form.fields["state"].choices == []
    pages("operator").post(transition(world), {"state": "queued", "reason": "tube warmed up"})
    world.session.refresh_from_db()
    assert world.session.state == "interrupted"


def test_other_time_points_at_the_same_site_are_linked(world, pages):
    later = m.ScanSession.objects.create(
        animal=world.animal,
        site=world.session.site,
        planned_at=world.study.datetime_of_day(14, world.session.planned_at.time()),
    )
    elsewhere = m.ScanSession.objects.create(
        animal=world.animal, site="L5-vertebra", planned_at=world.session.planned_at
    )
    html = pages("viewer").get(detail(world)).content.decode()
    assert reverse("frontend:session-detail", args=[world.study.pk, later.pk]) in html
    assert reverse("frontend:session-detail", args=[world.study.pk, elsewhere.pk]) not in html

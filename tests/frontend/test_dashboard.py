"""The dashboard: today's and overdue scans and doses, the instrument queue."""

from __future__ import annotations

import datetime as dt

from django.urls import reverse
from django.utils import timezone

from frontend.views.dashboard import day_bounds
from studies import models as m


def test_day_bounds_are_one_local_day_apart():
    start, end = day_bounds(dt.date(2026, 3, 29))
    assert end - start == dt.timedelta(days=1)
    assert timezone.localtime(start).time() == dt.time(0, 0)


def plan_today(world, hour: int = 12, days: int = 0) -> m.ScanSession:
    when = timezone.localtime().replace(hour=hour, minute=0, second=0, microsecond=0)
    return m.ScanSession.objects.create(
        animal=world.animal, site="L5-vertebra", planned_at=when + dt.timedelta(days=days)
    )


def test_overdue_and_todays_sessions_are_listed_but_not_tomorrows(world, pages):
    today = plan_today(world)
    tomorrow = plan_today(world, days=1)
    response = pages("viewer").get(reverse("frontend:dashboard"))
    listed = list(response.context["due_sessions"])
    assert listed == [world.session, today]  # the day-7 scan of January is overdue
    assert tomorrow not in listed
    assert "overdue" in response.content.decode()


def test_a_scanned_session_is_no_longer_overdue(world, pages):
    for state in ("queued", "acquiring", "acquired"):
        world.session.transition_to(state)
    response = pages("viewer").get(reverse("frontend:dashboard"))
    assert list(response.context["due_sessions"]) == []


def test_undone_doses_are_overdue_and_only_operators_get_the_record_button(world, pages):
    record = reverse(
        "frontend:administration-complete", args=[world.study.pk, world.administration.pk]
    )
    viewer = pages("viewer").get(reverse("frontend:dashboard"))
    assert list(viewer.context["due_doses"]) == [world.administration]
    assert record not in viewer.content.decode()
    assert record in pages("operator").get(reverse("frontend:dashboard")).content.decode()


def test_the_instrument_queue_shows_acquiring_first_then_queued(world, pages):
    queued = plan_today(world)
    queued.transition_to("queued")
    world.session.transition_to("queued")
    world.session.transition_to("acquiring")
    response = pages("viewer").get(reverse("frontend:dashboard"))
    assert list(response.context["queue"]) == [world.session, queued]
    assert response.context["n_queue"] == 2


def test_open_flags_of_my_studies_are_listed_critical_first(world, pages):
    def flag(study, kind, severity, **extra):
        return m.Flag.objects.create(
            study=study, kind=kind, severity=severity, subject=f"animal:{world.animal.pk}",
            message=f"{kind} message", **extra,
        )  # fmt: skip

    warning = flag(world.study, "weight-loss-warning", "warning", animal=world.animal)
    endpoint = flag(world.study, "humane-endpoint", "critical", animal=world.animal)
    flag(world.study, "dose-overdue", "warning", acknowledged_at=timezone.now())
    flag(world.other_study, "humane-endpoint", "critical")  # another study's: not shown
    response = pages("viewer").get(reverse("frontend:dashboard"))
    assert list(response.context["open_flags"]) == [endpoint, warning]
    assert response.context["n_open_flags"] == 2
    assert "Humane endpoint reached" in response.content.decode()

"""What the pages show: edit controls only for roles that may use them, the weight
chart, the animal timeline, the schedule and the audit log."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

from studies import models as m

#: Paths of pages and actions that change records (never linked for a viewer).
EDITING = re.compile(r'(?:href|action)="[^"]*/(?:new|edit|plan|transition|role|remove)/[^"]*"')
EDITING_ADMIN = re.compile(r'(?:href|action)="[^"]*/administrations/\d+/"')


def study_pages(world) -> list[str]:
    s = world.study.pk
    return [
        reverse("frontend:study-detail", args=[s]),
        reverse("frontend:study-schedule", args=[s]),
        reverse("frontend:study-members", args=[s]),
        reverse("frontend:study-data", args=[s]),
        reverse("frontend:animal-detail", args=[s, world.animal.pk]),
        reverse("frontend:session-detail", args=[s, world.session.pk]),
        reverse("frontend:dashboard"),
    ]


def editing_controls(html: str) -> list[str]:
    """Links and forms that change records ("New study" excepted: anyone may start one)."""
    found = EDITING.findall(html) + EDITING_ADMIN.findall(html)
    return [control for control in found if control != 'href="/studies/new/"']


def test_a_viewer_sees_no_edit_controls_anywhere(world, pages):
    client = pages("viewer")
    for url in study_pages(world):
        html = client.get(url).content.decode()
        assert editing_controls(html) == [], url
        assert "Edit study" not in html


def test_an_owner_sees_the_edit_controls(world, pages):
    client = pages("owner")
    found = {url: editing_controls(client.get(url).content.decode()) for url in study_pages(world)}
    for url in study_pages(world)[:-1]:  # the dashboard has nothing of the owner's to edit
        assert found[url], url


@pytest.mark.parametrize(
    ("who", "visible"),
    [
        ("operator", {"weight-new", "session-new"}),
        ("investigator", {"weight-new", "session-new", "animal-edit"}),
    ],
)
def test_animal_page_buttons_follow_the_role(world, pages, who, visible):
    s, a = world.study.pk, world.animal.pk
    html = pages(who).get(reverse("frontend:animal-detail", args=[s, a])).content.decode()
    urls = {
        "weight-new": reverse("frontend:weight-new", args=[s, a]),
        "session-new": reverse("frontend:session-new", args=[s]) + f"?animal={a}",
        "animal-edit": reverse("frontend:animal-edit", args=[s, a]),
    }
    assert {name for name, url in urls.items() if f'href="{url}"' in html} == visible


def test_the_weight_chart_draws_one_point_per_weight_with_percent_change(world, pages):
    for day, grams in [(7, "21.0"), (14, "18.0")]:
        m.BodyWeight.objects.create(
            animal=world.animal,
            measured_on=world.study.start_date + dt.timedelta(days=day),
            grams=Decimal(grams),
        )
    url = reverse("frontend:animal-detail", args=[world.study.pk, world.animal.pk])
    response = pages("viewer").get(url)
    html = response.content.decode()
    assert html.count('class="weight-point"') == 3
    assert [p.percent for p in response.context["chart"].points] == pytest.approx([0, 5, -10])
    assert "day 14: 18 g (-10.0 %)" in html
    assert re.findall(r'data-day="(-?\d+)"', html) == ["0", "7", "14"]


def test_an_animal_without_weights_has_no_chart(world, pages):
    world.weight.delete()
    response = pages("viewer").get(
        reverse("frontend:animal-detail", args=[world.study.pk, world.animal.pk])
    )
    assert response.context["chart"] is None
    assert "No weights recorded." in response.content.decode()


def test_the_animal_timeline_merges_scans_doses_and_weights_by_date(world, pages):
    response = pages("viewer").get(
        reverse("frontend:animal-detail", args=[world.study.pk, world.animal.pk])
    )
    events = [(e.day, e.kind, e.status) for e in response.context["events"]]
    assert events == [(0, "weight", ""), (0, "dose", "due"), (7, "scan", "planned")]
    link = reverse("frontend:session-detail", args=[world.study.pk, world.session.pk])
    assert f'href="{link}"' in response.content.decode()


def test_the_study_table_flags_weight_loss_past_the_warning(world, pages):
    m.BodyWeight.objects.create(
        animal=world.animal, measured_on=dt.date(2026, 1, 19), grams=Decimal("16.6")
    )
    response = pages("viewer").get(reverse("frontend:study-detail", args=[world.study.pk]))
    ((animal, latest, change, level),) = response.context["animals"]
    assert (latest.grams, change, level) == (Decimal("16.6"), -17.0, "warning")
    assert 'class="change warning">-17.0 %' in response.content.decode()


def test_the_schedule_shows_each_treatment_day_and_the_calendar(world, pages):
    response = pages("viewer").get(reverse("frontend:study-schedule", args=[world.study.pk]))
    treatment, scans = response.context["chart"].rows
    assert (treatment.group, [mark.day for mark in treatment.marks]) == ("OVX", [0, 7, 14])
    assert (scans.group, [mark.day for mark in scans.marks]) == ("Scans", [7])
    weeks = response.context["weeks"]
    assert [w.number for w in weeks] == [1]
    assert weeks[0].days[0] == [world.session]
    html = response.content.decode()
    assert html.count('class="mark"') == 4


def test_the_audit_log_lists_page_changes_with_their_fields(world, pages):
    pages("investigator").post(
        reverse("frontend:cohort-edit", args=[world.study.pk, world.cohort.pk]),
        {"name": "OVX", "planned_n": 8, "description": ""},
    )
    response = pages("investigator").get(
        reverse("frontend:study-audit", args=[world.study.pk]) + "?model=studies.cohort"
    )
    event, changes = response.context["rows"][0]
    assert (event.action, event.source) == ("update", "page")
    assert changes == [("planned_n", 6, 8)]
    assert {e.model for e, _ in response.context["rows"]} == {"studies.cohort"}


EXTERNAL = re.compile(r'<(?:script|link|img)\b[^>]*\b(?:src|href)="(?:https?:)?//', re.IGNORECASE)


def test_every_script_and_style_is_served_by_the_platform(world, pages):
    client = pages("owner")
    for url in study_pages(world):
        html = client.get(url).content.decode()
        assert EXTERNAL.findall(html) == [], url
        assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
        assert {"/static/frontend/nanoscope.css", "/static/frontend/nanoscope.js"} <= set(assets)
        for asset in assets:
            assert finders.find(asset.removeprefix("/static/")), asset

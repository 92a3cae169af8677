"""The pages in a real browser: Debian's Chromium, headless, driven by Playwright.

The live server runs on the run's PostgreSQL (``live_server`` needs committed data,
hence transactional tests).  Locally a missing Chromium or Playwright skips these tests
with a loud banner; with ``CI=true`` it fails the run (``tests/conftest.py``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from studies import models as m

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def login(chromium, live_server):
    """``login(username)``: a new browser page logged in through the log-in form."""
    contexts = []

    def open_as(username: str):
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{live_server.url}{reverse('login')}")
        page.fill("#id_username", username)
        page.fill("#id_password", f"pw-{username}-123456")
        page.click("button[type=submit]")
        page.wait_for_selector(f"text=Log out {username}")
        return page

    yield open_as
    for context in contexts:
        context.close()


def test_an_animal_form_shows_the_bad_date_then_saves(world, login, live_server):
    page = login("investigator")
    page.goto(f"{live_server.url}{reverse('frontend:animal-new', args=[world.study.pk])}")
    page.fill("#id_label", "M07")
    page.select_option("#id_cohort", str(world.cohort.pk))
    page.select_option("#id_sex", "female")
    page.fill("#id_date_of_birth", "2025-10-01")
    page.select_option("#id_status", "died")
    page.fill("#id_end_date", "2025-09-01")
    page.click("button:has-text('Save')")
    message = page.locator('.has-error .error[data-field="end_date"]')
    assert message.inner_text() == "The end date is before the date of birth."
    assert message.is_visible()
    assert not m.Animal.objects.filter(label="M07").exists()

    page.fill("#id_end_date", "2025-12-01")
    page.fill("#id_end_reason", "found dead in cage")
    page.click("button:has-text('Save')")
    page.wait_for_selector("h2.record-title:has-text('M07')")
    animal = m.Animal.objects.get(study=world.study, label="M07")
    assert (animal.status, animal.end_date) == ("died", dt.date(2025, 12, 1))
    assert page.url.endswith(reverse("frontend:animal-detail", args=[world.study.pk, animal.pk]))


def test_the_weight_chart_draws_one_point_per_weight(world, login, live_server):
    for day, grams in [(7, "20.6"), (14, "19.1"), (21, "18.2")]:
        m.BodyWeight.objects.create(
            animal=world.animal,
            measured_on=world.study.start_date + dt.timedelta(days=day),
            grams=Decimal(grams),
        )
    page = login("viewer")
    page.goto(
        f"{live_server.url}"
        f"{reverse('frontend:animal-detail', args=[world.study.pk, world.animal.pk])}"
    )
    points = page.locator("svg#weight-chart circle.weight-point")
    assert points.count() == world.animal.weights.count() == 4
    boxes = [points.nth(i).bounding_box() for i in range(points.count())]
    assert all(box is not None and box["width"] > 0 for box in boxes)
    xs = [box["x"] for box in boxes]
    ys = [box["y"] for box in boxes]
    assert xs == sorted(xs)  # later study days to the right
    assert ys[3] > ys[2] > ys[0]  # lighter animals lower on screen
    assert points.nth(3).locator("title").text_content() == "day 21: 18.2 g (-9.0 %)"


def test_a_viewer_sees_no_edit_controls_and_can_filter_animals(world, login, live_server):
    m.Animal.objects.create(study=world.study, label="K22", sex="male", cage="C9")
    page = login("viewer")
    page.goto(f"{live_server.url}{reverse('frontend:study-detail', args=[world.study.pk])}")
    rows = page.locator("#animals tbody tr")
    assert rows.count() == 2
    for control in ["Add animal", "Add cohort", "Edit study"]:
        assert page.get_by_text(control).count() == 0
    assert page.locator(".edit-link").count() == 0

    page.fill("[data-filter-text]", "c9")
    assert page.locator("#animals tbody tr:visible").all_inner_texts()[0].startswith("K22")
    assert page.locator("#animals tbody tr:visible").count() == 1
    assert page.locator('[data-count-for="animals"]').inner_text() == "1 of 2"

    page.goto(
        f"{live_server.url}"
        f"{reverse('frontend:animal-detail', args=[world.study.pk, world.animal.pk])}"
    )
    for control in ["Add weight", "Plan scan", "Edit animal", "Record"]:
        assert page.get_by_role("link", name=control).count() == 0
    page.goto(
        f"{live_server.url}"
        f"{reverse('frontend:session-detail', args=[world.study.pk, world.session.pk])}"
    )
    assert page.locator("#transitions").count() == 0
    assert page.locator("#session-state").inner_text() == "Planned"

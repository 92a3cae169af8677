"""The Analysis page in a real browser (Debian's Chromium, headless, Playwright).

The plot is drawn by ``frontend/static/frontend/analysis.js``; these tests count its SVG
marks, follow a click to the scan session and check the PNG export's pixels.
"""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from PIL import Image

from studies import models as sm
from tests.frontend.test_analysis import BV_TV, measured_study
from tests.frontend.test_browser import login  # noqa: F401 — the log-in fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _open(login, live_server, world, query: str = ""):  # noqa: F811 — the fixture
    page = login("viewer")
    page.goto(
        f"{live_server.url}{reverse('frontend:study-analysis', args=[world.study.pk])}{query}"
    )
    page.wait_for_selector("svg#analysis-svg")
    return page


def test_the_analysis_plot_draws_a_point_per_animal_and_time_point(world, login, live_server):  # noqa: F811
    animals = measured_study(world)
    page = _open(login, live_server, world)
    points = page.locator("svg#analysis-svg circle.animal-point")
    marks = [
        (points.nth(i).get_attribute("data-animal"), points.nth(i).get_attribute("data-day"))
        for i in range(points.count())
    ]
    expected = {(a.label, str(day)) for cohort, day in BV_TV for a in animals[cohort]}
    assert len(marks) == 18 and set(marks) == expected  # each animal and day exactly once
    means = page.locator("svg#analysis-svg g.cohort-mean")
    assert means.count() == 6  # 2 cohorts × 3 days
    assert {means.nth(i).get_attribute("data-n") for i in range(6)} == {"3"}
    assert page.locator("svg#analysis-svg polyline.animal-line").count() == 6  # one per animal

    # Higher values are drawn higher: M01 goes down from day 0 to day 28 (30 % → 20 %).
    m01 = {
        day: float(page.locator(f'circle[data-animal="M01"][data-day="{day}"]').get_attribute("cy"))
        for day in (0, 28)
    }
    assert m01[28] > m01[0]

    # Hiding the animals leaves the cohort means.
    page.uncheck("#show-animals")
    assert not page.locator("circle.animal-point").first.is_visible()
    assert page.locator("g.cohort-mean circle").first.is_visible()
    page.check("#show-animals")

    session = next(
        s for s in sm.ScanSession.objects.filter(animal=world.animal) if s.study_day == 28
    )
    page.click('circle.animal-point[data-animal="M01"][data-day="28"]')
    page.wait_for_url(f"**{reverse('frontend:session-detail', args=[world.study.pk, session.pk])}")


def test_changing_the_mode_redraws_change_from_baseline(world, login, live_server):  # noqa: F811
    measured_study(world)
    page = _open(login, live_server, world)
    page.click("#id_mode label:has-text('% change from baseline')")
    page.wait_for_url("**mode=change_pct**")
    page.wait_for_selector("svg#analysis-svg line.zero-line", state="attached")
    assert "Δ BV/TV from baseline (%)" in page.locator("svg#analysis-svg").inner_html()
    day0 = page.locator('circle.animal-point[data-day="0"]')
    assert day0.count() == 6
    assert {float(day0.nth(i).get_attribute("data-value")) for i in range(6)} == {0.0}


def test_png_export_downloads_the_plot_as_a_png(world, login, live_server):  # noqa: F811
    measured_study(world)
    page = _open(login, live_server, world)
    with page.expect_download() as download:
        page.click("#export-png")
    name = download.value.suggested_filename
    assert name == "A-bv_tv-Tibia_right_proximal_metaphysis-absolute.png"
    body = download.value.path().read_bytes()
    assert body[:8] == PNG_SIGNATURE
    image = Image.open(io.BytesIO(body)).convert("RGB")
    assert image.size == (1920, 1000)  # the 960 × 500 plot at twice the size
    colours = {colour for _, colour in image.getcolors(maxcolors=1 << 20)}
    assert (255, 255, 255) in colours and len(colours) > 50  # not blank: marks, text, lines
    ovx_blue = (0x1D, 0x64, 0xC8)  # --g0, the first cohort's colour, in the means' circles
    assert ovx_blue in colours

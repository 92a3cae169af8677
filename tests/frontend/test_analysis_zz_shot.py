import pytest
from django.urls import reverse
from tests.frontend.test_analysis import measured_study
from tests.frontend.test_browser import login  # noqa

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

def test_shot(world, login, live_server):
    page = login("investigator")
    base = f"{live_server.url}{reverse('frontend:study-analysis', args=[world.study.pk])}"
    page.goto(base)
    page.screenshot(path="/tmp/shot-empty.png", full_page=True)
    measured_study(world)
    page.goto(base)
    page.wait_for_selector("svg#analysis-svg")
    page.screenshot(path="/tmp/shot-abs.png", full_page=True)
    page.goto(base + "?mode=change&parameter=tb_th_um")
    page.wait_for_selector("svg#analysis-svg")
    page.hover('circle.animal-point[data-animal="M01"][data-day="14"]')
    page.screenshot(path="/tmp/shot-change.png", full_page=False)
    with page.expect_download() as d:
        page.click("#export-png")
    d.value.save_as("/tmp/shot-export.png")

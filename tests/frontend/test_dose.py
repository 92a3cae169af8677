"""Radiation dose against the budget: per site on the animal page, per animal on the study.

Figures come from the dose ledger (``DoseRecord``) and the scans queued or running, as the
API's ``dose-budget`` reports them; the bars show delivered and committed shares.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from acquisition import jobs
from acquisition import models as am
from frontend.views.animals import DoseUse
from studies import models as m
from tests.acquisition.conftest import TINY_DOSE_MGY, instrument, protocol  # noqa: F401

pytestmark = pytest.mark.django_db

SITE = "tibia-right-proximal"


def _book(animal, dose_mgy: float, site: str = SITE) -> am.DoseRecord:
    return am.DoseRecord.objects.create(animal=animal, site=site, dose_mgy=dose_mgy, kind="full")


def _animal_page(pages, world, who: str = "viewer"):
    url = reverse("frontend:animal-detail", args=[world.study.pk, world.animal.pk])
    return pages(who).get(url)


def _dose_page(pages, world, who: str = "viewer"):
    return pages(who).get(reverse("frontend:study-dose", args=[world.study.pk]))


def test_the_animal_page_shows_dose_per_site_with_the_pending_scan(world, pages, protocol):  # noqa: F811
    _book(world.animal, 450.0)
    _book(world.animal, 60.0, site="L5-vertebra")
    jobs.request_acquisition(world.session, protocol, user=world.users["operator"])  # pending
    response = _animal_page(pages, world)
    doses = {use.site: use for use in response.context["doses"]}
    tibia, spine = doses[SITE], doses["L5-vertebra"]
    assert (tibia.delivered_mgy, tibia.pending_mgy) == (450.0, pytest.approx(TINY_DOSE_MGY))
    assert tibia.remaining_mgy == pytest.approx(1500.0 - 450.0 - TINY_DOSE_MGY)
    assert tibia.bar_used_pct == pytest.approx(30.0)
    assert tibia.bar_pending_pct == pytest.approx(100 * TINY_DOSE_MGY / 1500)
    assert (spine.delivered_mgy, spine.level) == (60.0, "")
    html = response.content.decode()
    assert '<span class="used" style="width: 30.00%"></span>' in html
    assert '<td class="num" data-delivered>450.0 mGy</td>' in html
    assert "L5 vertebra" in html


def test_several_bookings_at_one_site_add_up(world, pages):
    _book(world.animal, 300.0)
    _book(world.animal, 150.0)
    doses = {use.site: use for use in _animal_page(pages, world).context["doses"]}
    assert doses[SITE].delivered_mgy == 450.0


def test_a_site_near_or_past_the_budget_is_flagged(world, pages):
    _book(world.animal, 1300.0)
    _book(world.animal, 1600.0, site="L5-vertebra")  # an investigator overrode it
    doses = {use.site: use for use in _animal_page(pages, world).context["doses"]}
    assert doses[SITE].level == "warning"  # 1300 / 1500 = 87 %
    over = doses["L5-vertebra"]
    assert (over.level, over.bar_used_pct, over.bar_pending_pct) == ("over", 100.0, 0.0)
    assert over.remaining_mgy == pytest.approx(-100.0)
    html = _dose_page(pages, world).content.decode()
    assert '<span class="tag bad">over budget</span>' in html
    assert '<span class="tag bad">1 over</span>' in html


def test_the_study_dose_tab_lists_each_animal_and_site(world, pages):
    second = m.Animal.objects.create(
        study=world.study, cohort=world.cohort, label="M02", sex="female"
    )
    m.ScanSession.objects.create(
        animal=second, site=SITE, planned_at=world.study.datetime_of_day(7, dt.time(11))
    )
    _book(world.animal, 750.0)
    _book(world.other_animal, 999.0, site=SITE)  # another study: never shown
    response = _dose_page(pages, world)
    assert response.status_code == 200
    rows = [(u.animal_label, u.site, u.delivered_mgy) for u in response.context["uses"]]
    assert rows == [("M01", SITE, 750.0), ("M02", SITE, 0.0)]  # planned, nothing delivered
    html = response.content.decode()
    assert html.count('class="dose-row') == 2
    assert reverse("frontend:animal-detail", args=[world.study.pk, second.pk]) in html
    assert '<span class="used" style="width: 50.00%"></span>' in html
    assert "999" not in html


def test_the_dose_tab_is_for_members_only(world, pages):
    assert _dose_page(pages, world, "viewer").status_code == 200
    assert _dose_page(pages, world, "outsider").status_code == 404


def test_dose_use_shares_keep_the_bar_within_its_box():
    use = DoseUse(1, "M01", SITE, delivered_mgy=900.0, pending_mgy=900.0, budget_mgy=1500.0,
                  remaining_mgy=-300.0)  # fmt: skip
    assert (use.used_pct, use.committed_pct) == (60.0, 120.0)
    assert (use.bar_used_pct, use.bar_pending_pct) == (60.0, 40.0)
    assert use.level == "over"
    assert use.site_label == "Tibia, right, proximal metaphysis"

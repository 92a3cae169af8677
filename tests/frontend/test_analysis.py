"""The study's Analysis page through Django's test client: access, query, figures."""

from __future__ import annotations

import pytest
from django.urls import reverse
from scipy import stats

from analysis import models as am
from studies import models as sm
from tests.analysis.jobs.records import recorded_result, session_on_day

pytestmark = pytest.mark.django_db

#: BV/TV (fraction) per cohort and day; OVX (the world's M01, O1, O2) loses bone.
BV_TV = {
    ("OVX", 0): [0.30, 0.31, 0.29], ("OVX", 14): [0.25, 0.27, 0.24],
    ("OVX", 28): [0.20, 0.22, 0.19],
    ("Sham", 0): [0.30, 0.29, 0.31], ("Sham", 14): [0.30, 0.30, 0.29],
    ("Sham", 28): [0.31, 0.28, 0.30],
}  # fmt: skip


def measured_study(world) -> dict[str, list[sm.Animal]]:
    """OVX and Sham (control), three animals each, BV/TV measured on days 0, 14 and 28."""
    sham = sm.Cohort.objects.create(study=world.study, name="Sham", is_control=True)
    animals = {"OVX": [world.animal], "Sham": []}
    for i in (1, 2):
        animals["OVX"].append(
            sm.Animal.objects.create(
                study=world.study, cohort=world.cohort, label=f"O{i}", sex="female"
            )
        )
    for i in range(3):
        animals["Sham"].append(
            sm.Animal.objects.create(study=world.study, cohort=sham, label=f"S{i}", sex="female")
        )
    world.session.delete()
    for (cohort, day), values in BV_TV.items():
        for animal, value in zip(animals[cohort], values, strict=True):
            recorded_result(session_on_day(animal, day), bv_tv=value, tb_th_um=40 + 100 * value)
    return animals


def url(world, **query) -> str:
    base = reverse("frontend:study-analysis", args=[world.study.pk])
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


@pytest.mark.parametrize("role", ["owner", "investigator", "operator", "viewer"])
def test_every_member_reads_the_analysis(world, pages, role):
    measured_study(world)
    response = pages(role).get(url(world))
    assert response.status_code == 200
    plot = response.context["plot"]
    assert len(plot["points"]) == 18 and plot["cohorts"] == ["OVX", "Sham"]
    assert plot["controls"] == ["Sham"]
    assert b'data-tab="analysis"' in response.content


def test_another_study_is_404_and_anonymous_is_sent_to_log_in(world, pages):
    measured_study(world)
    assert pages("outsider").get(url(world)).status_code == 404
    anonymous = pages(None).get(url(world))
    assert anonymous.status_code == 302 and reverse("login") in anonymous["Location"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"parameter": "bmi"}, "parameter"),
        ({"parameter": "tb_th_um", "mode": "log"}, "mode"),
        ({"site": "elbow"}, "site"),
    ],
)
def test_a_bad_query_answers_400_naming_the_field(world, pages, query, field):
    measured_study(world)
    response = pages("viewer").get(url(world, **query))
    assert response.status_code == 400
    assert response.context["error_field"] == field
    assert f'data-field="{field}"'.encode() in response.content
    assert "plot" not in response.context


def test_points_carry_values_in_page_units_and_their_session(world, pages):
    animals = measured_study(world)
    plot = pages("viewer").get(url(world)).context["plot"]
    assert (plot["symbol"], plot["unit"]) == ("BV/TV", "%")
    m01_day28 = next(p for p in plot["points"] if p["animal"] == "M01" and p["day"] == 28)
    assert m01_day28["value"] == pytest.approx(20.0)  # 0.20 shown in per cent
    assert m01_day28["change"] == pytest.approx(20.0 - 30.0)
    assert m01_day28["change_pct"] == pytest.approx(-100 / 3)
    sessions = sm.ScanSession.objects.filter(animal=animals["OVX"][0])
    session = next(s for s in sessions if s.study_day == 28)
    assert m01_day28["session_url"] == reverse(
        "frontend:session-detail", args=[world.study.pk, session.pk]
    )
    volume = am.MorphometryResult.objects.get(volume__session=session).volume
    assert m01_day28["viewer_url"] == reverse("viewer:page", args=[volume.pk])
    tb_th = pages("viewer").get(url(world, parameter="tb_th_um")).context["plot"]
    assert tb_th["unit"] == "µm"
    by_day = sorted(tb_th["points"], key=lambda p: p["day"])
    m01 = [p["value"] for p in by_day if p["animal"] == "M01"]
    assert m01 == pytest.approx([70.0, 65.0, 60.0])  # 40 + 100 × BV/TV, not scaled


def test_cohort_means_and_sem_per_day_for_each_mode(world, pages):
    measured_study(world)
    client = pages("viewer")
    absolute = {
        (s["cohort"], s["day"]): s for s in client.get(url(world)).context["plot"]["summary"]
    }
    ovx28 = [100 * v for v in BV_TV[("OVX", 28)]]
    assert absolute[("OVX", 28.0)]["n"] == 3
    assert absolute[("OVX", 28.0)]["mean"] == pytest.approx(sum(ovx28) / 3)
    assert absolute[("OVX", 28.0)]["sem"] == pytest.approx(stats.sem(ovx28))
    change = client.get(url(world, mode="change_pct")).context["plot"]
    rows = {(s["cohort"], s["day"]): s for s in change["summary"]}
    loss = [100 * (b - a) / a for a, b in zip(BV_TV[("OVX", 0)], BV_TV[("OVX", 28)], strict=True)]
    assert rows[("OVX", 28.0)]["mean"] == pytest.approx(sum(loss) / 3)
    assert rows[("Sham", 0.0)]["mean"] == 0.0
    assert change["mode"] == "change_pct"


def test_statistics_agree_with_the_api(world, pages):
    measured_study(world)
    response = pages("viewer").get(url(world))
    stats_ = response.context["stats"]
    day28 = next(block for block in stats_["by_day"] if block["day"] == 28.0)
    pair = day28["pairs"][0]
    welch = stats.ttest_ind(
        [100 * v for v in BV_TV[("OVX", 28)]], [100 * v for v in BV_TV[("Sham", 28)]],
        equal_var=False,
    )  # fmt: skip
    assert (pair["cohort_a"], pair["cohort_b"]) == ("OVX", "Sham")
    assert pair["p"] == pytest.approx(welch.pvalue, rel=1e-6)
    assert pair["p_holm"] == pytest.approx(welch.pvalue, rel=1e-6)  # one pair: Holm = raw
    api = world.client("viewer").get(
        "/api/v1/cohort-statistics/", {"study": world.study.pk, "parameter": "bv_tv"}
    )
    api_pair = next(r for r in api.json()["pairwise"] if r["day"] == 28.0)
    assert pair["p"] == pytest.approx(api_pair["p"], rel=1e-9)
    assert pair["hedges_g"] == pytest.approx(api_pair["hedges_g"], rel=1e-9)
    interaction = next(r for r in stats_["mixed_coefficients"] if r["interaction"])
    assert interaction["term"] == "cohort[T.OVX]:day"
    mean = {key: 100 * sum(v) / 3 for key, v in BV_TV.items()}
    # Balanced design, days 0/14/28: each cohort's least-squares slope is
    # (mean day 28 - mean day 0) / 28 whatever day 14 holds; the term is their difference.
    expected = ((mean["OVX", 28] - mean["OVX", 0]) - (mean["Sham", 28] - mean["Sham", 0])) / 28
    assert interaction["estimate"] == pytest.approx(expected, rel=1e-4)
    assert stats_["mixed_fit"]["reference"] == "Sham"
    assert b'data-term="cohort[T.OVX]:day"' in response.content
    csv = response.context["csv"]["pairwise"]
    assert csv.startswith("/api/v1/cohort-statistics/?") and "table=pairwise" in csv
    assert world.client("viewer").get(csv).status_code == 200


def test_the_newest_result_of_a_session_is_the_one_shown(world, pages):
    measured_study(world)
    older = am.MorphometryResult.objects.get(volume__session__animal=world.animal, study_day=0)
    recorded_result(older.volume.session, bv_tv=0.5)
    points = pages("viewer").get(url(world)).context["plot"]["points"]
    m01 = sorted((p["day"], p["value"]) for p in points if p["animal"] == "M01")
    assert m01 == [(0, pytest.approx(50.0)), (14, pytest.approx(25.0)), (28, pytest.approx(20.0))]
    assert len(points) == 18


def test_no_results_yet_shows_the_empty_state(world, pages):
    response = pages("viewer").get(url(world))
    assert response.status_code == 200
    assert "plot" not in response.context
    assert (
        b'id="analysis-empty"' in response.content
        and b"No BV/TV (%) results yet" in response.content
    )
    measured_study(world)
    dynamic = pages("viewer").get(url(world, parameter="bfr_bv_pct_per_day"))
    assert dynamic.status_code == 200 and "plot" not in dynamic.context
    assert "BFR/BV (%/day)" in dynamic.content.decode()
    unscanned = pages("viewer").get(url(world, site="L5-vertebra"))
    assert unscanned.status_code == 200 and "plot" not in unscanned.context
    assert unscanned.context["sites"] == ["L5-vertebra", "tibia-right-proximal"]
    assert b'<option value="L5-vertebra" selected>L5 vertebra</option>' in unscanned.content


def test_results_of_two_sites_are_plotted_one_site_at_a_time(world, pages):
    measured_study(world)
    femur = session_on_day(world.animal, 7, site="femur-left-distal")
    recorded_result(femur, bv_tv=0.4)
    default = pages("viewer").get(url(world)).context
    assert default["site"] == "femur-left-distal"  # the first site in order
    assert [(p["animal"], p["day"]) for p in default["plot"]["points"]] == [("M01", 7)]
    tibia = pages("viewer").get(url(world, site="tibia-right-proximal")).context
    assert len(tibia["plot"]["points"]) == 18


def test_p_values_are_shown_with_sensible_precision():
    from frontend.views.analysis import p_text

    assert [p_text(p) for p in (0.0004, 0.01234, 0.4321, None, float("nan"))] == [
        "< 0.001", "0.0123", "0.43", "–", "–",
    ]  # fmt: skip

"""The chart geometry (Django-free): scales, nice ticks, the weight curve, the timeline."""

from __future__ import annotations

import pytest

from frontend.charts import LinearScale, nice_step, nice_ticks, timeline, weight_chart


def test_linear_scale_maps_ends_and_midpoint_and_inverts():
    scale = LinearScale(10.0, 20.0, 100.0, 300.0)
    assert scale(10.0) == 100.0
    assert scale(20.0) == 300.0
    assert scale(15.0) == 200.0
    assert scale.invert(250.0) == pytest.approx(17.5, abs=1e-12)


def test_flipped_scale_puts_larger_values_higher_on_screen():
    y = LinearScale(0.0, 4.0, 200.0, 0.0)
    assert y(1.0) == 150.0
    assert y(4.0) == 0.0


@pytest.mark.parametrize("lo, hi", [(1.0, 1.0), (2.0, 1.0), (0.0, float("inf"))])
def test_scale_refuses_an_empty_or_infinite_domain(lo, hi):
    with pytest.raises(ValueError, match="lo < hi"):
        LinearScale(lo, hi, 0.0, 1.0)


@pytest.mark.parametrize(
    "span, count, step",
    [
        (10.0, 5, 2.0),
        (28.0, 10, 2.0),
        (1.0, 5, 0.2),
        (7.3, 5, 1.0),
        (100.0, 4, 20.0),
        (3.0, 3, 1.0),
        (40.0, 5, 10.0),
        (0.03, 6, 0.005),
    ],
)
def test_nice_step_rounds_to_one_two_or_five_times_a_power_of_ten(span, count, step):
    assert nice_step(span, count) == pytest.approx(step, rel=1e-12)


def test_nice_step_refuses_bad_arguments():
    with pytest.raises(ValueError, match="span"):
        nice_step(0.0)
    with pytest.raises(ValueError, match="count"):
        nice_step(1.0, 0)


def test_nice_ticks_are_the_multiples_inside_the_interval():
    assert nice_ticks(-1.2, 9.7, 5) == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert nice_ticks(16.0, 20.0, 4) == [16.0, 17.0, 18.0, 19.0, 20.0]


def test_weight_chart_has_one_point_per_weighing_with_percent_from_the_first():
    chart = weight_chart([0, 7, 14], [20.0, 21.0, 18.0], warning_pct=15, endpoint_pct=20)
    assert [p.day for p in chart.points] == [0, 7, 14]
    assert [p.percent for p in chart.points] == pytest.approx([0.0, 5.0, -10.0], abs=1e-12)
    xs = [p.x for p in chart.points]
    assert xs == sorted(xs)  # later days further right
    # y grows downwards on screen: the heaviest weighing is highest.
    assert chart.points[1].y < chart.points[0].y < chart.points[2].y
    # Equal steps in days are equal steps in pixels.
    assert xs[1] - xs[0] == pytest.approx(xs[2] - xs[1], abs=1e-9)
    assert chart.polyline.count(",") == 3
    assert [p.label for p in chart.points] == [
        "day 0: 20 g (+0.0 %)",
        "day 7: 21 g (+5.0 %)",
        "day 14: 18 g (-10.0 %)",
    ]


def test_weight_chart_guides_sit_at_the_baseline_fractions():
    chart = weight_chart([0, 7], [20.0, 19.0], warning_pct=15, endpoint_pct=20)
    grams = {g.kind: g.grams for g in chart.guides}
    assert grams == pytest.approx({"baseline": 20.0, "warning": 17.0, "endpoint": 16.0})
    baseline_y = next(g.y for g in chart.guides if g.kind == "baseline")
    assert baseline_y == pytest.approx(chart.points[0].y, abs=1e-9)
    # The guides are inside the plot, so the humane endpoint is always visible.
    left, top, right, bottom = chart.plot
    assert all(top <= g.y <= bottom for g in chart.guides)


def test_weight_chart_percent_ticks_line_up_with_grams():
    chart = weight_chart([0, 3], [20.0, 18.0], warning_pct=15, endpoint_pct=20)
    zero = next(t for t in chart.percent_ticks if t.label == "+0 %")
    assert zero.px == pytest.approx(chart.points[0].y, abs=1e-9)
    minus_ten = next(t for t in chart.percent_ticks if t.label == "-10 %")
    assert minus_ten.px == pytest.approx(chart.points[1].y, abs=1e-9)  # 18 g is −10 %


def test_weight_chart_with_a_single_weighing_still_has_a_range():
    chart = weight_chart([5], [21.5])
    assert len(chart.points) == 1
    left, _, right, _ = chart.plot
    assert left < chart.points[0].x < right


@pytest.mark.parametrize(
    "days, grams, message",
    [([], [], "at least one"), ([0, 1], [20.0], "differ in length"), ([0], [0.0], "greater than")],
)
def test_weight_chart_refuses_bad_input(days, grams, message):
    with pytest.raises(ValueError, match=message):
        weight_chart(days, grams)


def test_timeline_places_marks_by_study_day_and_groups_get_colours():
    chart = timeline(
        [("ovx", "A", [0]), ("drug", "A", [0, 7, 14]), ("saline", "B", [0, 7])], today=7
    )
    assert [r.group_index for r in chart.rows] == [0, 0, 1]
    drug = chart.rows[1]
    assert [m.day for m in drug.marks] == [0, 7, 14]
    assert drug.marks[1].x - drug.marks[0].x == pytest.approx(drug.marks[2].x - drug.marks[1].x)
    assert drug.span == (drug.marks[0].x, drug.marks[2].x)
    assert chart.rows[0].span is None
    assert chart.today_x == pytest.approx(drug.marks[1].x)
    assert chart.rows[0].y < chart.rows[1].y < chart.rows[2].y


def test_timeline_hides_today_outside_the_range_and_needs_rows():
    assert timeline([("x", "A", [0, 7])], today=400).today_x is None
    with pytest.raises(ValueError, match="at least one row"):
        timeline([])

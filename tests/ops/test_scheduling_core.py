"""The calendar and threshold arithmetic of the scheduled checks, against hand-worked answers."""

from __future__ import annotations

import datetime as dt

import pytest

from studies.scheduling import (
    VisitTiming,
    WelfareLevel,
    visit_days,
    visit_timing,
    weight_loss_pct,
    welfare_level,
)


def test_weekly_plan_for_four_weeks_has_baseline_and_four_follow_ups():
    assert visit_days(0, 7, 4) == [0, 7, 14, 21, 28]


def test_plan_days_stop_at_the_last_day_that_fits():
    # 7 * 2 = 14 days after day 3: 3, 8, 13 (18 would be past day 17).
    assert visit_days(3, 5, 2) == [3, 8, 13]


def test_zero_weeks_is_the_baseline_alone():
    assert visit_days(-2, 7, 0) == [-2]


@pytest.mark.parametrize(
    ("interval", "weeks", "argument"), [(0, 4, "interval_days"), (7, -1, "duration_weeks")]
)
def test_bad_plan_arguments_are_named(interval, weeks, argument):
    with pytest.raises(ValueError, match=argument):
        visit_days(0, interval, weeks)


PLANNED = dt.date(2026, 3, 10)


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (dt.date(2026, 3, 7), VisitTiming.UPCOMING),  # window opens on the 8th
        (dt.date(2026, 3, 8), VisitTiming.IN_WINDOW),
        (dt.date(2026, 3, 10), VisitTiming.IN_WINDOW),
        (dt.date(2026, 3, 11), VisitTiming.OVERDUE),
        (dt.date(2026, 3, 12), VisitTiming.OVERDUE),  # last day of the window
        (dt.date(2026, 3, 13), VisitTiming.MISSED),
    ],
)
def test_visit_timing_with_a_two_day_window(today, expected):
    assert visit_timing(PLANNED, today, 2) is expected


def test_zero_window_is_missed_the_next_day():
    assert visit_timing(PLANNED, PLANNED, 0) is VisitTiming.IN_WINDOW
    assert visit_timing(PLANNED, PLANNED + dt.timedelta(days=1), 0) is VisitTiming.MISSED


def test_negative_window_is_refused():
    with pytest.raises(ValueError, match="window_days"):
        visit_timing(PLANNED, PLANNED, -1)


def test_weight_loss_is_percent_of_baseline():
    assert weight_loss_pct(20.0, 17.0) == pytest.approx(15.0, abs=1e-12)
    assert weight_loss_pct(20.0, 22.0) == pytest.approx(-10.0, abs=1e-12)


@pytest.mark.parametrize(
    ("baseline", "current", "argument"), [(0, 10, "baseline_g"), (10, -1, "current_g")]
)
def test_non_positive_weights_are_refused(baseline, current, argument):
    with pytest.raises(ValueError, match=argument):
        weight_loss_pct(baseline, current)


@pytest.mark.parametrize(
    ("loss", "expected"),
    [
        (14.99, WelfareLevel.OK),
        (15.0, WelfareLevel.WARNING),  # reaching a threshold counts
        (19.99, WelfareLevel.WARNING),
        (20.0, WelfareLevel.HUMANE_ENDPOINT),
        (-5.0, WelfareLevel.OK),
    ],
)
def test_welfare_levels_at_default_thresholds(loss, expected):
    assert welfare_level(loss, 15.0, 20.0) is expected


def test_thresholds_out_of_order_are_refused():
    with pytest.raises(ValueError, match="warning_pct"):
        welfare_level(10.0, 25.0, 20.0)

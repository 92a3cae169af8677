"""Study weeks (Django-free): items grouped into weeks counted from study day 0."""

from __future__ import annotations

from frontend.weeks import study_week, study_weeks


def test_study_week_uses_floor_division():
    assert [study_week(d) for d in (-8, -7, -1, 0, 6, 7, 13, 14)] == [-2, -1, -1, 0, 0, 1, 1, 2]


def test_items_land_on_their_weekday_cell_in_order():
    weeks = study_weeks([(0, "a"), (7, "b"), (9, "c"), (9, "d")])
    assert [w.number for w in weeks] == [0, 1]
    assert weeks[0].days[0] == ["a"]
    assert weeks[1].days[0] == ["b"]
    assert weeks[1].days[2] == ["c", "d"]
    assert weeks[1].count == 3
    assert weeks[1].cells[2] == (9, ["c", "d"])


def test_empty_weeks_between_items_are_kept_and_negative_days_work():
    weeks = study_weeks([(-3, "pre"), (15, "late")])
    assert [w.number for w in weeks] == [-1, 0, 1, 2]
    assert weeks[0].day_numbers == [-7, -6, -5, -4, -3, -2, -1]
    assert weeks[0].days[4] == ["pre"]
    assert [w.count for w in weeks] == [1, 0, 0, 1]


def test_no_items_no_weeks():
    assert study_weeks([]) == []

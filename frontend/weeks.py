"""Study weeks: items placed on a calendar of weeks counted from study day 0.

Django-free.  Study week ``w`` holds study days ``7w … 7w + 6`` (week −1 holds days −7 …
−1), so "week 2" means the same thing in every study whatever weekday day 0 fell on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")

DAYS_PER_WEEK = 7


@dataclass
class StudyWeek(Generic[T]):
    """One study week: its number and, per day of the week, the items of that day."""

    number: int
    days: list[list[T]] = field(default_factory=lambda: [[] for _ in range(DAYS_PER_WEEK)])

    @property
    def first_day(self) -> int:
        return self.number * DAYS_PER_WEEK

    @property
    def day_numbers(self) -> list[int]:
        return [self.first_day + offset for offset in range(DAYS_PER_WEEK)]

    @property
    def cells(self) -> list[tuple[int, list[T]]]:
        """``(study day, items)`` for each of the week's seven days."""
        return list(zip(self.day_numbers, self.days, strict=True))

    @property
    def count(self) -> int:
        return sum(len(items) for items in self.days)


def study_week(day: int) -> int:
    """The study week of study day ``day`` (floor division: day −1 is in week −1)."""
    return day // DAYS_PER_WEEK


def study_weeks(items: Iterable[tuple[int, T]]) -> list[StudyWeek[T]]:
    """Group ``(study day, item)`` pairs into consecutive study weeks.

    Parameters
    ----------
    items : iterable of (int, T)
        Each item with its study day; the order within a day is kept.

    Returns
    -------
    list of StudyWeek
        Every week from the first to the last week holding an item (empty weeks between
        them included, so the calendar has no gaps); an empty list for no items.
    """
    placed: dict[int, StudyWeek[T]] = {}
    for day, item in items:
        number = study_week(day)
        week = placed.setdefault(number, StudyWeek(number))
        week.days[day - week.first_day].append(item)
    if not placed:
        return []
    return [placed.get(n, StudyWeek(n)) for n in range(min(placed), max(placed) + 1)]

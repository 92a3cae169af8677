"""Dosing due: administrations due today and overdue, per study, and their flags.

An administration is *due today* when it is planned on the local calendar day and not
yet recorded as given; *overdue* when it was planned on an earlier day and is still not
given.  Animals no longer alive are left out.  The scheduled check raises one
``dose-overdue`` flag per overdue administration and resolves it once the dose is
recorded (or the animal leaves the study).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone

from .flags import WantedFlag, checked_studies, sync_flags
from .models import Administration, Flag, Study
from .vocabulary import AnimalStatus


@dataclass
class DueList:
    """The pending administrations of one study on ``date`` (local calendar day)."""

    date: dt.date
    due_today: QuerySet
    overdue: QuerySet


def day_bounds(date: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The aware start of ``date`` and of the next day, in the current time zone."""
    start = timezone.make_aware(dt.datetime.combine(date, dt.time.min))
    return start, timezone.make_aware(dt.datetime.combine(date + dt.timedelta(days=1), dt.time.min))


def due_administrations(study: Study, date: dt.date) -> DueList:
    """Administrations of ``study`` not yet given: planned on ``date``, and before it."""
    start, end = day_bounds(date)
    pending = (
        Administration.objects.filter(
            animal__study=study, actual_at__isnull=True, animal__status=AnimalStatus.ALIVE
        )
        .select_related("animal__study", "treatment", "administered_by")
        .order_by("planned_at", "animal__label", "pk")
    )
    return DueList(
        date=date,
        due_today=pending.filter(planned_at__gte=start, planned_at__lt=end),
        overdue=pending.filter(planned_at__lt=start),
    )


def _overdue_flag(administration: Administration) -> WantedFlag:
    study = administration.animal.study
    planned = timezone.localtime(administration.planned_at).date()
    return WantedFlag(
        kind=Flag.Kind.DOSE_OVERDUE,
        severity=Flag.Severity.WARNING,
        subject=f"administration:{administration.pk}",
        message=(
            f"{administration.treatment.agent} for {administration.animal} planned "
            f"{planned:%Y-%m-%d} (day {study.study_day(planned)}) is not recorded as given."
        ),
        links={"administration": administration, "animal": administration.animal},
    )


def check_dosing(date: dt.date | None = None) -> dict[int, dict[str, int]]:
    """Flag overdue administrations in every checked study; resolve those since given.

    Returns ``{study_id: {"due_today": n, "overdue": n, "raised": n, "reopened": n,
    "resolved": n}}``.
    """
    date = date or timezone.localdate()
    summary: dict[int, dict[str, int]] = {}
    for study in checked_studies():
        due = due_administrations(study, date)
        overdue = list(due.overdue)
        synced = sync_flags(
            study,
            [Flag.Kind.DOSE_OVERDUE],
            [_overdue_flag(a) for a in overdue],
            auto_resolve=True,
        )
        summary[study.pk] = {
            "due_today": due.due_today.count(),
            "overdue": len(overdue),
            **synced.as_dict(),
        }
    return summary

"""Raise and resolve flags idempotently: a check says what is true now, this syncs the table.

A check computes the flags that should be open for some kinds (:class:`WantedFlag`,
keyed by ``subject``); :func:`sync_flags` creates the missing ones and re-opens resolved
ones whose condition came back (a new episode: the old acknowledgement is cleared, the
audit trail keeps it).  Flags no longer wanted are resolved — for kinds that clear on
their own always, for the others (welfare) only once a person has acknowledged them.
Running a check twice changes nothing the second time, and every change goes through
``save()`` so the audit trail records it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import Flag, Study
from .vocabulary import StudyStatus


@dataclass(frozen=True)
class WantedFlag:
    """A flag a check wants open: its kind, subject and the records it points at."""

    kind: str
    severity: str
    subject: str
    message: str
    value: float | None = None
    links: dict = field(default_factory=dict)  # animal / administration / scan_session


@dataclass
class SyncResult:
    """Counts of what :func:`sync_flags` changed."""

    raised: int = 0
    reopened: int = 0
    resolved: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"raised": self.raised, "reopened": self.reopened, "resolved": self.resolved}


def _raise(study: Study, wanted: WantedFlag) -> bool:
    """Create the flag unless it exists (a concurrent run may have made it); True if new."""
    try:
        with transaction.atomic():
            Flag.objects.create(
                study=study,
                kind=wanted.kind,
                severity=wanted.severity,
                subject=wanted.subject,
                message=wanted.message[:300],
                value=wanted.value,
                **wanted.links,
            )
    except IntegrityError:
        return False
    return True


def sync_flags(
    study: Study,
    kinds: Iterable[str],
    wanted: Iterable[WantedFlag],
    *,
    auto_resolve: bool,
) -> SyncResult:
    """Make the study's flags of ``kinds`` match ``wanted``.

    Parameters
    ----------
    study : Study
        The study whose flags are synced.
    kinds : iterable of str
        The flag kinds this check owns (``Flag.Kind`` values); others are untouched.
    wanted : iterable of WantedFlag
        The flags that should be open now.
    auto_resolve : bool
        Resolve flags of ``kinds`` that are no longer wanted (their condition cleared).
        False for flags a person must see first (welfare): those are resolved only
        once acknowledged.

    Returns
    -------
    SyncResult
    """
    kinds = list(kinds)
    by_key = {(w.kind, w.subject): w for w in wanted}
    unknown = {w.kind for w in by_key.values()} - set(kinds)
    if unknown:
        raise ValueError(f"wanted flags of kinds {sorted(unknown)} not in kinds {kinds}")
    result = SyncResult()
    existing = {(f.kind, f.subject): f for f in Flag.objects.filter(study=study, kind__in=kinds)}
    now = timezone.now()
    for key, item in by_key.items():
        flag = existing.get(key)
        if flag is None:
            result.raised += _raise(study, item)
        elif flag.resolved_at is not None:
            _reopen(flag, item, now)
            result.reopened += 1
    for key, flag in existing.items():
        cleared = key not in by_key and flag.resolved_at is None
        if cleared and (auto_resolve or flag.acknowledged_at is not None):
            flag.resolved_at = now
            flag.save(update_fields=["resolved_at"])
            result.resolved += 1
    return result


def _reopen(flag: Flag, wanted: WantedFlag, now) -> None:
    flag.resolved_at = None
    flag.acknowledged_at = None
    flag.acknowledged_by = None
    flag.acknowledgement_note = ""
    flag.raised_at = now
    flag.message = wanted.message[:300]
    flag.value = wanted.value
    flag.save(
        update_fields=[
            "resolved_at",
            "acknowledged_at",
            "acknowledged_by",
            "acknowledgement_note",
            "raised_at",
            "message",
            "value",
        ]
    )


def checked_studies():
    """The studies the scheduled checks look at: those planning or running."""
    return Study.objects.filter(status__in=[StudyStatus.PLANNING, StudyStatus.ACTIVE])

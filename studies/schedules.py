"""nanoscope's periodic jobs, installed into django-celery-beat's tables (editable in the admin).

``manage.py install_schedules`` (run by the compose ``migrate`` service) creates each
job below that is missing and leaves existing ones as they are, so edits made in the
admin survive upgrades; ``--reset`` restores the defaults.  A new job carries a start
time, which makes beat run it once as soon as it starts, then on its crontab (in the
lab's ``TIME_ZONE``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask


@dataclass(frozen=True)
class Schedule:
    """One periodic job: its unique name, task, crontab fields and description."""

    name: str
    task: str
    crontab: dict[str, str] = field(default_factory=dict)
    description: str = ""
    expire_seconds: int = 3600


SCHEDULES: tuple[Schedule, ...] = (
    Schedule(
        name="nanoscope: dosing due",
        task="studies.tasks.check_dosing",
        crontab={"minute": "5"},
        description="Hourly: flag administrations not recorded as given after their day.",
    ),
    Schedule(
        name="nanoscope: welfare",
        task="studies.tasks.check_welfare",
        crontab={"minute": "10"},
        description="Hourly: flag weight loss at the warning and humane-endpoint thresholds.",
    ),
    Schedule(
        name="nanoscope: scan plans",
        task="studies.tasks.run_scan_plans",
        crontab={"minute": "15"},
        description="Hourly: create upcoming plan sessions; flag overdue and missed ones.",
    ),
    Schedule(
        name="nanoscope: acquisition leases",
        task="acquisition.tasks.sweep_acquisition_leases",
        crontab={"minute": "*"},
        description="Every minute: mark scans whose worker died (lease expired) as interrupted.",
        expire_seconds=60,
    ),
    Schedule(
        name="nanoscope: plan queueing",
        task="acquisition.tasks.queue_planned_sessions",
        crontab={"minute": "*/15"},
        description="Every 15 min: queue due plan sessions on a free instrument; "
        "flag those over the dose budget.",
        expire_seconds=900,
    ),
    Schedule(
        name="nanoscope: stale jobs",
        task="nanoscope_web.tasks.sweep_stale_jobs",
        crontab={"minute": "*/5"},
        description="Every 5 min: re-queue reconstructions and analyses whose worker died; "
        "re-send queued ones left unclaimed.",
        expire_seconds=300,
    ),
    Schedule(
        name="nanoscope: integrity",
        task="nanoscope_web.tasks.check_integrity",
        crontab={"minute": "30", "hour": "2"},
        description="Nightly: every data file's sha256 against the database; flag missing "
        "or altered files (never repaired).",
        expire_seconds=6 * 3600,
    ),
)


def _crontab(fields: dict[str, str]) -> CrontabSchedule:
    values = {
        "minute": "*",
        "hour": "*",
        "day_of_week": "*",
        "day_of_month": "*",
        "month_of_year": "*",
        **fields,
    }
    crontab, _ = CrontabSchedule.objects.get_or_create(timezone=settings.TIME_ZONE, **values)
    return crontab


@transaction.atomic
def install_schedules(*, reset: bool = False) -> dict[str, str]:
    """Create the missing periodic jobs (all of them with ``reset``).

    Returns
    -------
    dict
        ``{name: "created" | "kept" | "reset"}`` for each job of :data:`SCHEDULES`.
    """
    outcome: dict[str, str] = {}
    for item in SCHEDULES:
        values = {
            "task": item.task,
            "crontab": _crontab(item.crontab),
            "interval": None,
            "description": item.description,
            "expire_seconds": item.expire_seconds,
            "enabled": True,
            "start_time": timezone.now(),
            "last_run_at": None,
        }
        existing = PeriodicTask.objects.filter(name=item.name).first()
        if existing is None:
            PeriodicTask.objects.create(name=item.name, **values)
            outcome[item.name] = "created"
        elif reset:
            for key, value in values.items():
                setattr(existing, key, value)
            existing.save()
            outcome[item.name] = "reset"
        else:
            outcome[item.name] = "kept"
    return outcome

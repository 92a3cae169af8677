"""install_schedules: nanoscope's periodic jobs in django-celery-beat, idempotent, due at start."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import ModelEntry

from nanoscope_web.celery import app
from studies.schedules import SCHEDULES

pytestmark = pytest.mark.django_db

NAMES = {item.name for item in SCHEDULES}


def install(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("install_schedules", *args, stdout=out)
    return out.getvalue()


def test_install_creates_each_job_once():
    assert install().count("created") == 7
    assert install().count("kept") == 7
    tasks = PeriodicTask.objects.filter(name__in=NAMES)
    assert {t.task for t in tasks} == {
        "studies.tasks.check_dosing",
        "studies.tasks.check_welfare",
        "studies.tasks.run_scan_plans",
        "acquisition.tasks.sweep_acquisition_leases",
        "acquisition.tasks.queue_planned_sessions",
        "nanoscope_web.tasks.sweep_stale_jobs",
        "nanoscope_web.tasks.check_integrity",
    }
    assert all(t.crontab is not None and t.enabled for t in tasks)


def test_admin_edits_survive_a_reinstall_and_reset_restores_them():
    install()
    task = PeriodicTask.objects.get(name="nanoscope: welfare")
    task.enabled = False
    task.save()
    install()
    assert PeriodicTask.objects.get(name="nanoscope: welfare").enabled is False
    assert "reset    nanoscope: welfare" in install("--reset")
    assert PeriodicTask.objects.get(name="nanoscope: welfare").enabled is True


def test_scheduled_tasks_route_to_the_default_queue():
    for item in SCHEDULES:
        assert app.amqp.router.route({}, item.task)["queue"].name == "default"


def test_a_new_job_is_due_as_soon_as_beat_starts():
    install()
    for task in PeriodicTask.objects.filter(name__in=NAMES):
        due, _next_check_s = ModelEntry(task, app=app).is_due()
        assert due, task.name

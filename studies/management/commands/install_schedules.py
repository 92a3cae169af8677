"""``manage.py install_schedules``: add nanoscope's periodic jobs to celery beat (idempotent)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from studies.schedules import install_schedules


class Command(BaseCommand):
    help = "Create nanoscope's periodic jobs in django-celery-beat; existing ones are kept."

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset", action="store_true", help="restore every job to its default schedule"
        )

    def handle(self, *args, reset: bool, **options):
        for name, outcome in install_schedules(reset=reset).items():
            self.stdout.write(f"{outcome:8} {name}")

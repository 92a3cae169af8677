"""Scan the demo study's planned sessions with the simulated X-ray microscope."""

from django.core.management.base import BaseCommand, CommandError

from acquisition.demo import acquire_demo
from nanoscope_web.celery import ensure_broker_folders


class Command(BaseCommand):
    help = (
        "Acquire the demo study's due scan sessions with the simulator (small binned scans); "
        "--all scans the whole longitudinal series."
    )

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="also sessions planned later")
        parser.add_argument("--limit", type=int, help="scan at most this many sessions")
        parser.add_argument("--paced", action="store_true", help="real-time frames")
        parser.add_argument(
            "--worker", action="store_true", help="queue on the instrument worker instead"
        )

    def handle(self, *args, all, limit, paced, worker, **options):
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1")
        ensure_broker_folders()  # a finished scan queues its reconstruction
        try:
            job_ids = acquire_demo(
                include_future=all,
                limit=limit,
                paced=paced,
                via_worker=worker,
                report=self.stdout.write,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"{len(job_ids)} demo acquisition(s)."))

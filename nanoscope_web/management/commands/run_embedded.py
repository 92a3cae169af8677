"""Start the embedded platform: migrate, seed the demo, start workers, serve the web."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from nanoscope_web.celery import ensure_broker_folders

#: Embedded workers: the instrument queue alone (one acquisition at a time), the rest together.
WORKERS = [
    ("instrument", ["-Q", "instrument", "--pool", "solo"]),
    # The compute worker also runs celery beat (the scheduled checks), embedded only.
    ("compute", ["-Q", "gpu,cpu,default", "--pool", "threads", "--concurrency", "2", "--beat"]),
]


class Command(BaseCommand):
    help = "Run nanoscope on one machine: SQLite, a file-system broker, workers and the web."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000", help="host:port to serve on")
        parser.add_argument("--no-demo", action="store_true", help="do not seed the demo study")
        parser.add_argument("--no-workers", action="store_true", help="serve the web only")

    def handle(self, *args, addr: str, no_demo: bool, no_workers: bool, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("install_schedules", verbosity=0)
        if not no_demo:
            call_command("seed_demo")
        ensure_broker_folders()
        workers = [] if no_workers else [self._start_worker(n, a) for n, a in WORKERS]
        self.stdout.write(self.style.SUCCESS(f"\nnanoscope is up: http://{addr}/"))
        self.stdout.write(
            f"  API: http://{addr}/api/v1/   docs: http://{addr}/api/schema/swagger-ui/"
        )
        self.stdout.write(f"  data root: {settings.NANOSCOPE_DATA_ROOT}\n")
        # A plain `kill` (SIGTERM) stops the workers too, as Ctrl-C does.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            call_command("runserver", addr, use_reloader=False, use_threading=True)
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                try:
                    worker.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    worker.kill()

    def _start_worker(self, name: str, args: list[str]) -> subprocess.Popen:
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "nanoscope_web",
            "worker",
            "--loglevel",
            "INFO",
            "--hostname",
            f"{name}@%h",
            *args,
        ]
        return subprocess.Popen(command, env=os.environ.copy())

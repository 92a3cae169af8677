"""Mark acquisitions whose worker died (lease expired) as interrupted."""

from django.core.management.base import BaseCommand

from acquisition.jobs import sweep_expired_leases


class Command(BaseCommand):
    help = (
        "Mark running acquisitions whose lease expired (their worker died) as interrupted, "
        "book their partial dose and remove their partial files. Safe to run at any time."
    )

    def handle(self, *args, **options):
        swept = sweep_expired_leases()
        for job_id in swept:
            self.stdout.write(f"acquisition {job_id}: interrupted (lease expired)")
        self.stdout.write(f"{len(swept)} acquisition(s) marked interrupted.")

from django.core.management.base import BaseCommand

from studies.demo import DEMO_ADMIN, DEMO_USERS, seed_demo


class Command(BaseCommand):
    help = "Create the demo study 'OVX and zoledronate' and its users (idempotent)."

    def handle(self, *args, **options):
        study, passwords = seed_demo()
        self.stdout.write(f"Demo study: {study.title} (id {study.pk}, day 0 = {study.start_date})")
        self.stdout.write("Demo logins (username / password / role):")
        for name, role in [*DEMO_USERS.items(), (DEMO_ADMIN, "superuser")]:
            self.stdout.write(f"  {name:18s} {passwords[name]:14s} {role}")

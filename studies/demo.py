"""The demo study "OVX and zoledronate": records a new lab can click through at once.

Three cohorts of six female C57BL/6J mice — Sham, OVX + vehicle, OVX + zoledronate —
with ovariectomy or sham surgery on day 0, weekly subcutaneous zoledronate (100 µg/kg)
or saline, baseline body weights, and weekly scans of the right proximal tibia in
weeks 0–4.  Everything is deterministic except the demo users' passwords, which are
generated once and kept in ``var/demo-credentials.json`` (never in the repository).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import secrets
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from . import models as m
from .audit import audit_context
from .vocabulary import AnatomicalSite, Role, Route, StudyStatus, TreatmentKind

DEMO_TITLE = "OVX and zoledronate"
DEMO_USERS = {
    "demo-owner": Role.OWNER,
    "demo-investigator": Role.INVESTIGATOR,
    "demo-operator": Role.OPERATOR,
    "demo-viewer": Role.VIEWER,
}
DEMO_ADMIN = "demo-admin"
ANIMALS_PER_COHORT = 6
SCAN_WEEKS = range(5)
SCAN_SITE = AnatomicalSite.TIBIA_RIGHT_PROXIMAL

COHORTS = [
    {
        "name": "Sham",
        "is_control": True,
        "description": "Sham surgery, saline weekly.",
        "treatments": [
            ("surgery", "sham", None, "", Route.SURGICAL, None, None),
            ("vehicle", "saline", Decimal("5"), "mL/kg", Route.SUBCUTANEOUS, 7, 5),
        ],
    },
    {
        "name": "OVX + vehicle",
        "is_control": False,
        "description": "Ovariectomy, saline weekly.",
        "treatments": [
            ("surgery", "ovariectomy", None, "", Route.SURGICAL, None, None),
            ("vehicle", "saline", Decimal("5"), "mL/kg", Route.SUBCUTANEOUS, 7, 5),
        ],
    },
    {
        "name": "OVX + zoledronate",
        "is_control": False,
        "description": "Ovariectomy, zoledronate 100 µg/kg s.c. weekly.",
        "treatments": [
            ("surgery", "ovariectomy", None, "", Route.SURGICAL, None, None),
            ("drug", "zoledronate", Decimal("100"), "ug/kg", Route.SUBCUTANEOUS, 7, 5),
        ],
    },
]


def credentials_path() -> Path:
    return Path(settings.VAR_DIR) / "demo-credentials.json"


def _demo_passwords() -> dict[str, str]:
    path = credentials_path()
    if path.exists():
        return json.loads(path.read_text())
    passwords = {name: secrets.token_urlsafe(9) for name in [*DEMO_USERS, DEMO_ADMIN]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(passwords, indent=1))
    path.chmod(0o600)
    return passwords


def _ensure_users(passwords: dict[str, str]) -> dict[str, object]:
    User = get_user_model()
    users = {}
    for name in [*DEMO_USERS, DEMO_ADMIN]:
        user, created = User.objects.get_or_create(
            username=name, defaults={"email": f"{name}@example.org"}
        )
        if created:
            user.set_password(passwords[name])
            if name == DEMO_ADMIN:
                user.is_staff = user.is_superuser = True
            user.save()
        users[name] = user
    return users


@transaction.atomic
def seed_demo(start_date: dt.date | None = None) -> tuple[m.Study, dict[str, str]]:
    """Create the demo study and users if missing; return the study and the passwords."""
    passwords = _demo_passwords()
    users = _ensure_users(passwords)
    existing = m.Study.objects.filter(title=DEMO_TITLE).first()
    if existing:
        return existing, passwords
    start = start_date or timezone.localdate()
    rng = random.Random(20261124)
    with audit_context(user=users["demo-owner"], source="command", reason="demo seed"):
        study = m.Study.objects.create(
            title=DEMO_TITLE,
            description=(
                "Ovariectomy-induced bone loss in C57BL/6J mice and its prevention by "
                "zoledronate, followed by weekly in-vivo XRM of the proximal tibia."
            ),
            ethics_licence="DEMO-2026-017",
            principal_investigator="Dr. A. Demo",
            start_date=start,
            status=StudyStatus.ACTIVE,
            dose_budget_mgy=2500.0,
        )
        for name, role in DEMO_USERS.items():
            m.Membership.objects.create(study=study, user=users[name], role=role)
        number = 0
        for spec in COHORTS:
            cohort = m.Cohort.objects.create(
                study=study,
                name=spec["name"],
                description=spec["description"],
                is_control=spec["is_control"],
                planned_n=ANIMALS_PER_COHORT,
            )
            treatments = [
                m.Treatment.objects.create(
                    cohort=cohort,
                    kind=TreatmentKind(kind),
                    agent=agent,
                    dose=dose,
                    dose_unit=unit,
                    route=route,
                    vehicle="saline" if kind == "drug" else "",
                    start_day=0,
                    interval_days=interval,
                    n_administrations=count,
                )
                for kind, agent, dose, unit, route, interval, count in spec["treatments"]
            ]
            for _ in range(ANIMALS_PER_COHORT):
                number += 1
                animal = m.Animal.objects.create(
                    study=study,
                    cohort=cohort,
                    label=f"M{number:02d}",
                    ear_tag=f"ET-{100 + number}",
                    strain="C57BL/6J",
                    sex="female",
                    date_of_birth=start - dt.timedelta(weeks=12),
                    vendor="Demo Vendor",
                    cage=f"C{(number - 1) // 3 + 1}",
                )
                m.BodyWeight.objects.create(
                    animal=animal,
                    measured_on=start,
                    grams=Decimal(f"{rng.gauss(20.5, 1.0):.1f}"),
                    measured_by=users["demo-operator"],
                )
                for week in SCAN_WEEKS:
                    m.ScanSession.objects.create(
                        animal=animal,
                        site=SCAN_SITE,
                        planned_at=study.datetime_of_day(7 * week, dt.time(10, 0)),
                    )
                for treatment in treatments:
                    for day in treatment.schedule_days():
                        m.Administration.objects.create(
                            treatment=treatment,
                            animal=animal,
                            planned_at=study.datetime_of_day(day, m.Administration.DEFAULT_TIME),
                        )
    return study, passwords

"""``/healthz``: is the database reachable, the broker reachable, the data root writable?"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from django.db import connection
from django.http import JsonResponse

from studies.datafiles import data_root

from .celery import app


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _broker() -> None:
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


def _data_root() -> None:
    probe = data_root() / f".healthz-{uuid.uuid4().hex}"
    probe.write_bytes(b"ok")
    probe.unlink()


CHECKS: dict[str, Callable[[], None]] = {
    "database": _database,
    "broker": _broker,
    "data_root": _data_root,
}


def healthz(request) -> JsonResponse:
    """200 with each check ``ok`` when all pass, else 503 naming what failed."""
    report: dict[str, dict] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
            report[name] = {"status": "ok"}
        except Exception as exc:  # noqa: BLE001 — a health check reports, never raises
            report[name] = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
        report[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    healthy = all(item["status"] == "ok" for item in report.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", "checks": report},
        status=200 if healthy else 503,
    )

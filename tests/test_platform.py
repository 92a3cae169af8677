"""The platform's wiring: real servers in CI, settings from the environment, /healthz."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.db import connection

from tests.conftest import IN_CI, ROOT


@pytest.mark.django_db
def test_database_tests_run_on_postgresql():
    if not IN_CI and connection.vendor != "postgresql":
        pytest.skip("PostgreSQL is not installed here (CI insists on it)")
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        assert cursor.fetchone()[0]


def _import_settings(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    clean.update(env, DJANGO_SETTINGS_MODULE="nanoscope_web.settings", PYTHONPATH=str(ROOT))
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    return subprocess.run(
        [sys.executable, "-c", code], env=clean, capture_output=True, text=True, cwd=ROOT
    )


def test_production_refuses_default_secret_key():
    result = _import_settings(NANOSCOPE_MODE="production")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_debug():
    result = _import_settings(NANOSCOPE_MODE="production", SECRET_KEY="k" * 50, DEBUG="true")
    assert result.returncode != 0
    assert "DEBUG must be off" in result.stderr


def test_production_starts_when_configured():
    result = _import_settings(NANOSCOPE_MODE="production", SECRET_KEY="k" * 50, DEBUG="false")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_bad_boolean_names_the_variable():
    result = _import_settings(DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr


@pytest.mark.django_db
def test_healthz_reports_each_part(client, celery_app, data_root):
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "ok",
        "broker": "ok",
        "data_root": "ok",
    }


@pytest.mark.django_db
def test_healthz_fails_when_data_root_is_not_writable(client, celery_app, settings, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    settings.NANOSCOPE_DATA_ROOT = blocker / "root"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["data_root"]["status"] == "error"

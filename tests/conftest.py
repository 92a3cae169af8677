"""Test-run fixtures: real PostgreSQL and Redis on loopback, a real Celery worker.

PostgreSQL and Redis are started once per run (``tests/servers.py``).  Every database
test runs on that PostgreSQL.  Locally, a missing server binary falls back (SQLite for
the database) and skips what needs the server, with a loud message; with ``CI=true`` a
missing server fails the run.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import dj_database_url
import pytest

from tests import servers

IN_CI = os.environ.get("CI", "").lower() == "true"
ROOT = Path(__file__).resolve().parent.parent


def _unavailable(what: str, exc: Exception) -> None:
    message = f"{what} is unavailable ({exc})"
    if IN_CI:
        pytest.exit(f"CI=true and {message}: install it (see .ci/run).", returncode=3)
    banner = "!" * 78
    sys.stderr.write(f"\n{banner}\n!! {message}.\n!! Tests that need it are SKIPPED.\n{banner}\n")


@pytest.fixture(scope="session")
def postgres():
    """The run's PostgreSQL server, or None where it cannot start (locally only)."""
    try:
        with servers.postgres_server() as server:
            yield server
    except servers.ServerUnavailable as exc:
        _unavailable("PostgreSQL", exc)
        yield None


@pytest.fixture(scope="session")
def redis_url():
    """URL of the run's Redis server; skips (fails in CI) where it cannot start."""
    try:
        with servers.redis_server() as url:
            yield url
    except servers.ServerUnavailable as exc:
        _unavailable("Redis", exc)
        pytest.skip(f"Redis is unavailable: {exc}")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(postgres):
    """Point Django's default database at the run's PostgreSQL before the test DB is made."""
    if postgres is None:
        return
    from django.db import connections

    with contextlib.suppress(AttributeError):
        connections["default"].close()
        delattr(connections._connections, "default")
    database = connections.settings["default"]
    database.clear()
    database.update(dj_database_url.parse(postgres.url("nanoscope")))
    connections.configure_settings({"default": database})


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing():
    """Tests create many users; a slow password hash buys nothing here."""
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session", autouse=True)
def data_root(tmp_path_factory):
    """A fresh data root for the run (shared with the worker process)."""
    from django.conf import settings

    root = tmp_path_factory.mktemp("data-root")
    settings.NANOSCOPE_DATA_ROOT = root
    return root


@pytest.fixture(scope="session")
def celery_app(redis_url):
    """The project's Celery app, sending to the run's Redis."""
    from nanoscope_web.celery import app

    app.conf.broker_url = redis_url
    app.conf.broker_transport_options = {"visibility_timeout": 3600}
    app.conf.task_always_eager = False
    return app


def worker_environment(database_url: str, broker_url: str, data_root: Path) -> dict[str, str]:
    """Environment of a worker process that shares the test run's servers and data root."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        NANOSCOPE_DATA_ROOT=str(data_root),
        DJANGO_SETTINGS_MODULE="nanoscope_web.settings",
        PYTHONPATH=str(ROOT),
    )
    return env


def start_worker(env: dict[str, str], queues: str, name: str, *extra: str) -> subprocess.Popen:
    """Start ``celery worker`` in a child process (its log goes to the test's stderr)."""
    command = [
        sys.executable, "-m", "celery", "-A", "nanoscope_web", "worker",
        "-Q", queues, "--hostname", f"{name}@%h", "--loglevel", "INFO",
        "--without-gossip", "--without-mingle", *extra,
    ]  # fmt: skip
    return subprocess.Popen(command, env=env, cwd=ROOT)


def wait_for_worker(app, name: str, process: subprocess.Popen, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"worker {name} exited with {process.returncode}")
        replies = app.control.ping(timeout=1.0) or []
        if any(name in host for reply in replies for host in reply):
            return
    raise RuntimeError(f"worker {name} did not answer a ping within {timeout_s} s")


def stop_worker(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, postgres, celery_app, data_root):
    """A real worker process on all queues, on the run's PostgreSQL, Redis and data root.

    Tests that use it must commit their data (``django_db(transaction=True)``).
    """
    if postgres is None:
        pytest.skip("a worker needs the shared PostgreSQL test database")
    from django.db import connection

    url = postgres.url(connection.settings_dict["NAME"])
    env = worker_environment(url, celery_app.conf.broker_url, data_root)
    process = start_worker(env, "instrument,gpu,cpu,default", "tests", "--pool", "solo")
    try:
        wait_for_worker(celery_app, "tests", process)
        yield process
    finally:
        stop_worker(process)


def wait_until(predicate, timeout_s: float = 60, interval_s: float = 0.2):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s} s")


CHROMIUM = Path("/usr/bin/chromium")
"""Debian's Chromium: the browser tests never download one."""
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]
"""Headless, with WebGL2 rendered in software (SwiftShader)."""


@pytest.fixture(scope="module")
def chromium():
    """A headless Chromium (Playwright, ``executable_path``) for one test module.

    Locally a missing Chromium or Playwright skips with a loud banner; in CI it fails.
    """
    if not CHROMIUM.exists():
        _unavailable("Chromium", FileNotFoundError(str(CHROMIUM)))
        pytest.skip(f"{CHROMIUM} is missing")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable("Playwright", exc)
        pytest.skip("Playwright is not installed")
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls
    # are plain synchronous code all the same.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous

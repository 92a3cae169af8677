"""docker-compose.yml proven without Docker: every service's command runs on the host.

PostgreSQL and Redis are stood in for by the test run's servers; every other service's
command runs from the repository root (the image's working directory) with the
service's environment from the compose file, where the database, broker and data root
point at the test's own (a fresh database, a Redis database of its own, a temporary
folder).  ``migrate`` must exit 0; then web, the four workers and beat start together:
web answers ``/healthz``, each worker answers a ping and runs a health ping sent to its
queue, the health checks of the file pass, and beat sends its first scheduled job,
which worker-default runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from celery import Celery

from nanoscope_web.celery import QUEUES, TASK_ROUTES
from tests.conftest import ROOT
from tests.ops import compose
from tests.servers import free_port

pytestmark = [pytest.mark.integration, pytest.mark.worker]

STAND_INS = {"postgres", "redis"}
WORKERS = {"worker-instrument": "instrument", "worker-cpu": "cpu", "worker-default": "default",
           "worker-gpu": "gpu"}  # fmt: skip
DEADLINE_S = 120


@dataclass
class Running:
    name: str
    process: subprocess.Popen
    log: Path

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} (exit {self.process.poll()}) ---\n" + "\n".join(
            text.splitlines()[-lines:]
        )


def stop(running: list[Running]) -> None:
    """SIGTERM each service's process group, then SIGKILL what is left."""
    for item in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(item.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for item in running:
        with contextlib.suppress(subprocess.TimeoutExpired):
            item.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(item.process.pid, signal.SIGKILL)
        item.process.wait()


@pytest.fixture
def compose_database(postgres):
    """A fresh, empty database on the test PostgreSQL (dropped afterwards)."""
    if postgres is None:
        pytest.skip("needs the test PostgreSQL server")
    name = f"compose_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres.url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield postgres.url(name)
    with psycopg.connect(postgres.url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def compose_broker(redis_url):
    """A Redis database of its own (the session's worker uses database 0)."""
    url = redis_url.rsplit("/", 1)[0] + "/7"
    app = Celery("compose-test", broker=url)
    app.conf.update(task_routes=TASK_ROUTES, task_default_queue="default")
    with app.connection_for_write() as conn:
        conn.default_channel.client.flushdb()
    return url, app


def service_env(service: dict, overrides: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_"))}
    env.update(compose.environment_of(service))
    env.update(overrides)
    # The image's PATH has its virtual environment first: here, the test's.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return env


def test_every_service_command_runs(tmp_path, compose_database, compose_broker):
    broker_url, app = compose_broker
    data_root = tmp_path / "data"
    data_root.mkdir()
    web_port = free_port()
    variables = {
        "SECRET_KEY": f"compose-test-{uuid.uuid4().hex}{uuid.uuid4().hex}",
        "POSTGRES_PASSWORD": "unused-by-the-test-server",
        "REDIS_PASSWORD": "unused-by-the-test-server",
        "WEB_CONCURRENCY": "1",
        "CPU_WORKER_CONCURRENCY": "1",
        "DEFAULT_WORKER_CONCURRENCY": "1",
    }
    services = compose.load(ROOT / "docker-compose.yml", variables)["services"]
    overrides = {
        "DATABASE_URL": compose_database,
        "CELERY_BROKER_URL": broker_url,
        "NANOSCOPE_DATA_ROOT": str(data_root),
        "NANOSCOPE_VAR_DIR": str(tmp_path / "var"),
        "STATIC_ROOT": str(tmp_path / "static"),
        "GUNICORN_BIND": f"127.0.0.1:{web_port}",
    }
    envs = {
        name: service_env(s, overrides) for name, s in services.items() if name not in STAND_INS
    }
    assert set(envs) == {"migrate", "web", "beat", *WORKERS}

    started = time.monotonic()
    timings: dict[str, float] = {}
    migrate = subprocess.run(
        compose.command_of(services["migrate"]), env=envs["migrate"], cwd=ROOT,
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
    assert "created  nanoscope: dosing due" in migrate.stdout
    timings["migrate"] = time.monotonic() - started

    running: list[Running] = []
    try:
        for name in ["web", "beat", *WORKERS]:
            log = tmp_path / f"{name}.log"
            with open(log, "wb") as sink:
                process = subprocess.Popen(
                    compose.command_of(services[name]), env=envs[name], cwd=ROOT,
                    stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
            running.append(Running(name, process, log))
        logs = lambda: "\n".join(item.tail() for item in running)  # noqa: E731

        def alive() -> None:
            dead = [item.name for item in running if item.process.poll() is not None]
            assert not dead, f"service(s) {dead} exited\n{logs()}"

        deadline = time.monotonic() + DEADLINE_S

        def wait_for(what: str, predicate):
            while time.monotonic() < deadline:
                alive()
                value = predicate()
                if value:
                    return value
                time.sleep(0.3)
            raise AssertionError(f"{what} not within {DEADLINE_S} s\n{logs()}")

        # web: gunicorn answers /healthz with every check ok.
        def healthz():
            with contextlib.suppress(OSError):
                url = f"http://127.0.0.1:{web_port}/healthz"
                with urllib.request.urlopen(url, timeout=5) as response:
                    return json.loads(response.read())
            return None

        report = wait_for("web /healthz", healthz)
        assert report["status"] == "ok", report
        timings["web"] = time.monotonic() - started

        # Each worker answers a ping addressed to it, then runs a task sent to its queue.
        host = socket.gethostname()
        nodes = {queue: f"{queue}@{host}" for queue in WORKERS.values()}

        def pinged():
            replies = app.control.ping(destination=list(nodes.values()), timeout=1.0) or []
            answered = {node for reply in replies for node in reply}
            return answered >= set(nodes.values())

        wait_for("a ping answer from every worker", pinged)
        timings["workers"] = time.monotonic() - started
        token = uuid.uuid4().hex
        for queue in WORKERS.values():
            app.send_task("nanoscope_web.tasks.health_ping", args=[queue, token], queue=queue)

        def pinged_back(queue):
            path = data_root / ".health" / f"{queue}.json"
            record = json.loads(path.read_text()) if path.exists() else {}
            return record if record.get("token") == token else None

        for queue in WORKERS.values():
            record = wait_for(f"health_ping on {queue}", lambda q=queue: pinged_back(q))
            assert record["worker"] == nodes[queue], record
        assert set(WORKERS.values()) == set(QUEUES)

        # The file's health checks pass on the running services.
        checks = {
            name: subprocess.Popen(
                services[name]["healthcheck"]["test"][1:],
                env=envs[name],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
            for name in ["web", *WORKERS]
        }
        for name, check in checks.items():
            output = check.communicate(timeout=60)[0].decode(errors="replace")
            assert check.returncode == 0, f"health check of {name}: {output}"
        timings["health checks"] = time.monotonic() - started

        # beat sends its first scheduled jobs at start; worker-default runs them.
        beat_log = next(item for item in running if item.name == "beat").log
        default_log = next(item for item in running if item.name == "worker-default").log
        wait_for(
            "beat to send the welfare check",
            lambda: (
                "Sending due task nanoscope: welfare (studies.tasks.check_welfare)"
                in beat_log.read_text()
            ),
        )
        wait_for(
            "worker-default to run the welfare check",
            lambda: re.search(
                r"Task studies\.tasks\.check_welfare\[[0-9a-f-]+\] succeeded",
                default_log.read_text(),
            ),
        )
        timings["beat"] = time.monotonic() - started
        alive()
    finally:
        stop(running)
        print("compose services ready after (s):", {k: round(v, 1) for k, v in timings.items()})

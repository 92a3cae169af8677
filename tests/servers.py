"""Real PostgreSQL and Redis servers on loopback, started once per test run.

Each server lives in a temporary folder and listens on a free 127.0.0.1 port; it is
stopped and removed when the run ends.  PostgreSQL refuses to run as root, so as root
the server runs as the ``postgres`` system user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PG_SEARCH = ["/usr/lib/postgresql/*/bin"]


class ServerUnavailable(RuntimeError):
    """A server binary is missing or would not start."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _find(binary: str) -> str | None:
    found = shutil.which(binary)
    if found:
        return found
    for pattern in PG_SEARCH:
        for folder in sorted(Path("/").glob(pattern.lstrip("/")), reverse=True):
            if (folder / binary).exists():
                return str(folder / binary)
    return None


def _wait_for_port(port: int, timeout_s: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServerUnavailable(f"server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise ServerUnavailable(f"nothing listened on port {port} within {timeout_s} s")


@dataclass
class Postgres:
    port: int
    user: str = "postgres"

    def url(self, database: str = "nanoscope") -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{database}"


@contextlib.contextmanager
def postgres_server() -> Iterator[Postgres]:
    initdb, pg_ctl = _find("initdb"), _find("pg_ctl")
    if not (initdb and pg_ctl):
        raise ServerUnavailable("PostgreSQL (initdb, pg_ctl) is not installed")
    folder = Path(tempfile.mkdtemp(prefix="nanoscope-pg-"))
    data = folder / "data"
    run_as: list[str] = []
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            raise ServerUnavailable("running as root and no 'postgres' user exists") from None
        os.chown(folder, account.pw_uid, account.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    try:
        subprocess.run(
            [*run_as, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
        )
        options = (
            f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={folder} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=100"
        )
        subprocess.run(
            [
                *run_as,
                pg_ctl,
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(folder / "log"),
                "-w",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        log = (folder / "log").read_text() if (folder / "log").exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        detail = getattr(exc, "stderr", b"") or b""
        raise ServerUnavailable(f"PostgreSQL did not start: {detail.decode()} {log}") from exc
    try:
        _wait_for_port(port, 30)
        yield Postgres(port=port)
    finally:
        subprocess.run(
            [*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """Yield the URL of a fresh Redis on loopback."""
    binary = shutil.which("redis-server")
    if not binary:
        raise ServerUnavailable("redis-server is not installed")
    folder = Path(tempfile.mkdtemp(prefix="nanoscope-redis-"))
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, 20, process)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(folder, ignore_errors=True)

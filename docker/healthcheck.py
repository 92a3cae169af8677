"""Container health checks of docker-compose.yml, without loading Django.

``healthcheck.py web``: ``/healthz`` on the gunicorn address answers 200 (database,
broker and data root all ok).  ``healthcheck.py worker NAME``: the Celery worker
``NAME@<this host>`` answers a ping through the broker.  Exit status 0 is healthy.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.request


def web() -> int:
    host, _, port = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000").rpartition(":")
    host = "127.0.0.1" if host in ("", "0.0.0.0", "[::]") else host
    request = urllib.request.Request(f"http://{host}:{port}/healthz", headers={"Host": "localhost"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


def worker(name: str) -> int:
    from celery import Celery

    app = Celery(broker=os.environ["CELERY_BROKER_URL"])
    node = f"{name}@{socket.gethostname()}"
    replies = app.control.ping(destination=[node], timeout=5.0) or []
    if any(node in reply for reply in replies):
        return 0
    print(f"unhealthy: {node} did not answer a ping", file=sys.stderr)
    return 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["web"]:
        sys.exit(web())
    if sys.argv[1:2] == ["worker"] and len(sys.argv) == 3:
        sys.exit(worker(sys.argv[2]))
    sys.exit("usage: healthcheck.py web | worker NAME")

#!/usr/bin/env bash
# Set up and run the whole test suite.  The suite starts its own PostgreSQL and Redis on
# loopback (PostgreSQL, redis-server and chromium must be installed: see .ci/run).
# Arguments are passed on to pytest (e.g. scripts/test.sh tests/studies -x).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh requirements-dev.txt
exec .venv/bin/python -m pytest "$@"

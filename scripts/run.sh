#!/usr/bin/env bash
# Set up and start nanoscope on the embedded default (SQLite, file-system broker, local
# workers) with the demo study.  Prints the URL and the demo logins.
# Options are passed on to `manage.py run_embedded` (e.g. --addr 0.0.0.0:8000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh requirements.txt
exec .venv/bin/python manage.py run_embedded "$@"

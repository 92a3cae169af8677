#!/usr/bin/env bash
# Create or refresh the project's virtual environment (.venv) from a requirements file.
# Usage: scripts/venv.sh requirements.txt|requirements-dev.txt
# Re-installs only when the requirements files changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
requirements=${1:-requirements.txt}
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "Creating .venv with $($python --version)"
  "$python" -m venv .venv
fi
stamp=.venv/.installed-$(basename "$requirements")
digest=$(cat requirements*.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
  echo "Installing $requirements into .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
  echo "$digest" > "$stamp"
fi

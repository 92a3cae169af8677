"""The code version recorded with every result (provenance)."""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

PACKAGE_VERSION = "0.1.0"


@functools.cache
def code_version() -> str:
    """``NANOSCOPE_CODE_VERSION`` if set, else ``<package version>+g<git commit>``."""
    explicit = os.environ.get("NANOSCOPE_CODE_VERSION")
    if explicit:
        return explicit
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return PACKAGE_VERSION
    return f"{PACKAGE_VERSION}+g{commit}" if commit else PACKAGE_VERSION

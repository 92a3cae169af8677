"""No-op stand-ins for the project's autouse session fixtures.

The analysis core needs no Django. Each core test package's ``conftest.py`` imports
these two fixtures, which shadow the project's fixtures of the same names (they
configure Django settings), so the core tests also run with the Django plugin
disabled (``-p no:django``). The analysis job tests keep the real ones.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing():
    """Shadows the project fixture: no Django settings here."""


@pytest.fixture(scope="session", autouse=True)
def data_root():
    """Shadows the project fixture: the numeric core writes no files."""

"""Django-free core tests: shadow the project's Django fixtures."""

from tests.analysis.no_django import data_root, fast_password_hashing  # noqa: F401

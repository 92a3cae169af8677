"""Reconstruction records and jobs use Django: restore the project-wide fixtures that the
engine tests' conftest (one folder up) replaces with Django-free ones."""

from tests.conftest import data_root, fast_password_hashing  # noqa: F401 — fixtures

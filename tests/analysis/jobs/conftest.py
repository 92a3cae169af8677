"""Fixtures of the analysis records and jobs tests."""

from tests.studies.conftest import world  # noqa: F401 — the studies' small world of records

"""Fixtures of the operations tests: the studies world (one study per role, another study)."""

from tests.studies.conftest import World, make_user, world  # noqa: F401 — fixtures re-exported

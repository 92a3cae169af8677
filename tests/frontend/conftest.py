"""Fixtures of the page tests: the studies' small world and a logged-in page client."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.studies.conftest import START, World, make_user, world  # noqa: F401 — shared fixture


@pytest.fixture
def pages(world):  # noqa: F811 — the imported fixture
    """``pages(who)``: a Django test client logged in as ``who`` (None: anonymous)."""

    def client(who: str | None) -> Client:
        browser = Client()
        if who is not None:
            browser.force_login(world.users[who])
        return browser

    return client

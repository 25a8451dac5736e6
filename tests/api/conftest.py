"""Helpers for the /api/v1 tests: an API client bound to one account's key, problem+json
assertions, and waiting for background sync runs.

    api = make_api()                   # a new account (provisioning active) and a live key
    api.get("/members")                # paths relative to /api/v1, Authorization set
    api.scim.post("/Users", json=...)  # the same account's SCIM client, to stage users
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.helpers.api import ApiClient


@pytest.fixture
def api(make_api: Callable[..., ApiClient]) -> ApiClient:
    """An API client for a fresh account."""
    return make_api()

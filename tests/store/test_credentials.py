"""Provisioning tokens and API keys share one code path, each kind in its own table."""

from __future__ import annotations

import pytest

from scimgate.accounts import credentials
from scimgate.accounts import service as accounts
from scimgate.accounts.credentials import API_KEY, PROVISIONING_TOKEN
from scimgate.errors import NotFoundError
from scimgate.store import credentials as store
from scimgate.store.database import make_engine, utcnow


@pytest.fixture
def conn(database_url):
    engine = make_engine(database_url, pool=False)
    with engine.begin() as conn:
        accounts.create_account(conn, "acme", entitled=True)
        yield conn
    engine.dispose()


def _account(conn) -> int:
    return accounts.store.get_account(conn, "acme")["id"]


def test_each_kind_opens_only_its_own_table(conn):
    account_id = _account(conn)
    token = accounts.activate_provisioning(conn, account_id).token
    key = credentials.issue(conn, API_KEY, account_id, name="host").secret
    assert token.startswith("sgp_") and key.startswith("sgk_")
    assert credentials.check(conn, PROVISIONING_TOKEN, token)["account_id"] == account_id
    assert credentials.check(conn, API_KEY, key)["name"] == "host"
    assert credentials.check(conn, PROVISIONING_TOKEN, key) is None
    assert credentials.check(conn, API_KEY, token) is None
    assert credentials.check(conn, API_KEY, "sgk_" + "x" * 300) is None  # too long: not hashed


def test_revoke_returns_the_row_once(conn):
    account_id = _account(conn)
    issued = credentials.issue(conn, API_KEY, account_id, name="ci")
    revoked = store.revoke(conn, API_KEY.kind, account_id, issued.id, utcnow())
    assert revoked == {"id": issued.id, "prefix": issued.prefix, "name": "ci"}
    assert store.revoke(conn, API_KEY.kind, account_id, issued.id, utcnow()) is None
    assert credentials.check(conn, API_KEY, issued.secret) is None
    with pytest.raises(NotFoundError, match="No live API key"):
        credentials.revoke(conn, API_KEY, account_id, issued.id, slug="acme")
    (listed,) = credentials.list_for(conn, API_KEY, account_id)
    assert listed["id"] == issued.id and listed["revoked_at"] is not None
    assert credentials.list_for(conn, PROVISIONING_TOKEN, account_id) == []


def test_a_token_of_another_account_is_not_revoked(conn):
    other = accounts.create_account(conn, "other")["id"]
    issued = accounts.issue_token(conn, _account(conn), name="t")
    with pytest.raises(NotFoundError, match="No live token"):
        credentials.revoke(conn, PROVISIONING_TOKEN, other, issued.id, slug="other")
    assert store.revoke(conn, PROVISIONING_TOKEN.kind, _account(conn), issued.id, utcnow())

"""The statements on an IdP's hot path use an index past account_id: none scans an account.

SQLite has no statistics on a new database, so a missing or non-covering index shows
up as `SEARCH … (account_id=?)`, a scan of every row of the account. This is how
"lookups stay flat from 1,000 to 1,000,000 users" is kept true without a timed test.
"""

import pytest
from sqlalchemy import text

from scimgate.scim.filter import parse_filter
from scimgate.store.lookups import compile_lookup
from tests.helpers.databases import PG_URL

pytestmark = pytest.mark.skipif(bool(PG_URL), reason="SQLite query plans")

HOT = [
    "SELECT m.member_id, m.group_id, g.display_name FROM directory_membership m JOIN directory_group g "
    "ON g.account_id = m.account_id AND g.id = m.group_id WHERE m.account_id = 1 AND m.member_id IN ('a', 'b') "
    "ORDER BY m.member_id, g.display_name",
    "SELECT m.group_id, m.member_id FROM directory_membership m WHERE m.account_id = 1 AND m.group_id IN ('a')",
    "SELECT member_id FROM directory_membership WHERE account_id = 1 AND group_id = 'g' AND member_id IN ('a', 'b')",
    "SELECT id FROM directory_user WHERE account_id = 1 AND id IN ('a', 'b')",
    "SELECT t.id FROM provisioning_token t JOIN account a ON a.id = t.account_id WHERE t.token_hash = 'h' AND t.revoked_at IS NULL",
]

LOOKUPS = [
    ("User", 'userName eq "a@b.c"'),
    ("User", 'externalId eq "x"'),
    ("User", 'id eq "x"'),
    ("User", 'emails[type eq "work"].value eq "a@b.c"'),
    ("User", 'id eq "x" and manager eq "y"'),
    ("Group", 'displayName eq "Admins"'),
    ("Group", 'externalId eq "x"'),
    ("Group", 'id eq "g" and members[value eq "u"]'),
    ("Group", 'members eq "u"'),
]


def _plan(engine, sql, params=()):
    with engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()
        return [row[3] for row in cursor.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()]


def _scans_account(plan):
    return [line for line in plan if line.startswith("SCAN") or line.endswith("(account_id=?)")]


@pytest.mark.parametrize("sql", HOT)
def test_hot_statements_use_an_index(engine, sql):
    plan = _plan(engine, sql)
    assert not _scans_account(plan), plan


@pytest.mark.parametrize("kind, expression", LOOKUPS)
def test_idp_lookups_use_an_index(engine, kind, expression):
    where, params = compile_lookup(parse_filter(expression), kind, account_id=1, postgres=False)
    table = "directory_user" if kind == "User" else "directory_group"
    sql = f"SELECT id, doc FROM {table} WHERE account_id = ? AND {where} ORDER BY id LIMIT 100 OFFSET 0"
    plan = _plan(engine, sql, (1, *params))
    assert not _scans_account(plan), plan
    assert not any("TEMP B-TREE" in line for line in plan), plan


def test_plain_page_walks_the_primary_key(engine):
    plan = _plan(
        engine,
        "SELECT id FROM directory_user WHERE account_id = 1 ORDER BY id LIMIT 100 OFFSET 5000",
    )
    assert plan and "TEMP B-TREE" not in " ".join(plan)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1


def test_loop_connection_is_replaced_when_old(engine):
    """A kept connection is renewed after max_age, so cached plans do not outlive table growth."""
    from scimgate.store.database import KeptConnection

    keeper = KeptConnection(engine, max_age=0.0)
    with keeper.transaction(writes=False) as first:
        pass
    with keeper.transaction(writes=False) as second:
        pass
    assert first is not second
    keeper = KeptConnection(engine, max_age=3600)
    with keeper.transaction(writes=False) as first:
        pass
    with keeper.transaction(writes=False) as second:
        pass
    assert first is second
    keeper.close()

"""Migration 0010 gives the default mapping to accounts activated before it existed."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from scimgate.accounts import service as accounts
from scimgate.mapping import service as mapping
from scimgate.store.database import _alembic_config, make_engine, migrate

DEFAULTS = {"name", "email", "Job title", "Department", "Manager"}


def test_0010_installs_defaults_for_activated_accounts_without_a_mapping(database_url):
    # The rows are made with today's code, then the schema goes back to 0009 (the rows
    # stay) and up again: 0010 runs over them, whatever later migrations added.
    engine = make_engine(database_url, pool=False)
    with engine.begin() as conn:
        # Activated before the mapping tables: a token, provisioning on, no mapping.
        old = accounts.create_account(conn, "old", entitled=True)["id"]
        accounts.issue_token(conn, old)
        conn.execute(
            text("UPDATE account SET provisioning_active = true WHERE id = :a"), {"a": old}
        )
        never = accounts.create_account(conn, "never", entitled=True)["id"]
        current = accounts.create_account(conn, "current", entitled=True)["id"]
        accounts.activate_provisioning(conn, current)
        mapping.set_mapping(conn, current, "name", "userName")
    engine.dispose()
    try:
        command.downgrade(_alembic_config(database_url), "0009")
    finally:
        migrate(database_url)
    engine = make_engine(database_url, pool=False)
    with engine.connect() as conn:
        listed = {
            a: {m["target"]: m["source"] for m in mapping.list_mappings(conn, a)}
            for a in (old, never, current)
        }
        revs = dict(conn.execute(text("SELECT id, mapping_rev FROM account")).fetchall())
    engine.dispose()
    assert set(listed[old]) == DEFAULTS and revs[old] == 1
    assert listed[old]["email"] == 'emails[type eq "work"].value || emails.value || userName'
    assert listed[never] == {} and revs[never] == 0  # its activation installs them
    assert set(listed[current]) == DEFAULTS and listed[current]["name"] == "userName"
    assert revs[current] == 2  # untouched


def test_activation_installs_defaults_once_keeping_what_was_mapped_before(database_url):
    engine = make_engine(database_url, pool=False)
    with engine.begin() as conn:
        account_id = accounts.create_account(conn, "acme", entitled=True)["id"]
        mapping.set_mapping(conn, account_id, "name", "userName")  # before any activation
        accounts.activate_provisioning(conn, account_id)
        first = {m["target"]: m["source"] for m in mapping.list_mappings(conn, account_id)}
        mapping.set_mapping(conn, account_id, "email", "userName")
        accounts.deactivate_provisioning(conn, account_id)
        accounts.activate_provisioning(conn, account_id)
        second = {m["target"]: m["source"] for m in mapping.list_mappings(conn, account_id)}
    engine.dispose()
    assert set(first) == DEFAULTS and first["name"] == "userName"
    assert first["email"] == 'emails[type eq "work"].value || emails.value || userName'
    assert second == {**first, "email": "userName"}  # a second activation installs nothing

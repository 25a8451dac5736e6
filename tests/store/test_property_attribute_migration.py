"""Migration 0015 names every existing Property's SCIM extension attribute, oldest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import text

from scimgate.accounts import service as accounts
from scimgate.members import scim_attributes
from scimgate.members import service as members
from scimgate.store.database import _alembic_config, make_engine, migrate
from tests.helpers.sync import set_manual_value

INSERT = (
    "INSERT INTO member_property (account_id, id, name, name_key, type, options, created_at) "
    "VALUES (:a, :id, :name, :key, 'text', '[]', :at)"
)


def test_0015_names_existing_properties_and_keeps_accounts_apart(database_url):
    config = _alembic_config(database_url)
    engine = make_engine(database_url, pool=False)
    with engine.begin() as conn:
        one = accounts.create_account(conn, "one")["id"]
        two = accounts.create_account(conn, "two")["id"]
        member_id = members.add_member(conn, one, "ada@example.com")["id"]
        held = members.create_property(conn, one, "Badge", "text")["id"]
    set_manual_value(engine, one, member_id, held, "B-1")
    engine.dispose()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        command.downgrade(config, "0014_group_rules")
        engine = make_engine(database_url, pool=False)
        with engine.begin() as conn:
            for i, (account, prop_id, name) in enumerate(
                [
                    (one, "p-new", "Cost-Center"),  # newer: it gets the number
                    (one, "p-old", "Cost center"),
                    (two, "p-two", "Cost center"),
                    (one, "p-jp", "部署"),
                ]
            ):
                at = start + timedelta(days=10 - i if prop_id != "p-new" else 20)
                conn.execute(
                    text(INSERT),
                    {"a": account, "id": prop_id, "name": name, "key": name.lower(), "at": at},
                )
        engine.dispose()
    finally:
        migrate(database_url)
    engine = make_engine(database_url, pool=False)
    with engine.connect() as conn:
        names = dict(conn.execute(text("SELECT id, scim_name FROM member_property")).fetchall())
        paths = scim_attributes.paths(conn, one)
        values = conn.execute(text("SELECT member_id, property_id FROM property_value")).fetchall()
    engine.dispose()
    # The column is added in place: no member loses a value (a table copy would cascade).
    assert values == [(member_id, held)]
    assert names == {
        held: "badge",
        "p-old": "costCenter",
        "p-new": "costCenter2",
        "p-two": "costCenter",
        "p-jp": "property",
    }
    assert paths["p-new"] == "urn:ietf:params:scim:schemas:extension:scimgate:2.0:User:costCenter2"

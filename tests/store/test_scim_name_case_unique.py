"""A Property's SCIM attribute name is unique per account whatever its case, in the
database too: migration 0018 renames case duplicates (oldest keeps its name) and adds
the (account_id, lower(scim_name)) index; a write past the service's check is the 409
the service gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import text

from scimgate.accounts import service as accounts
from scimgate.errors import ConflictError
from scimgate.members import scim_attributes
from scimgate.store import property_attributes as store
from scimgate.store.database import _alembic_config, make_engine, migrate
from tests.helpers.api import assert_problem

INSERT = (
    "INSERT INTO member_property (account_id, id, name, name_key, type, options, created_at, "
    "scim_name) VALUES (:a, :id, :name, :key, 'text', '[]', :at, :s)"
)


def test_0018_renames_case_duplicates_then_refuses_them(database_url):
    config = _alembic_config(database_url)
    engine = make_engine(database_url, pool=False)
    with engine.begin() as conn:
        one = accounts.create_account(conn, "one")["id"]
        two = accounts.create_account(conn, "two")["id"]
    engine.dispose()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        command.downgrade(config, "0017_dead_letter_index")
        engine = make_engine(database_url, pool=False)
        with engine.begin() as conn:
            revs = dict(conn.execute(text("SELECT id, mapping_rev FROM account")).fetchall())
            for day, (account, prop_id, scim_name) in enumerate(
                [
                    (one, "p-old", "costCenter"),
                    (one, "p-mid", "CostCenter"),  # later: numbered
                    (one, "p-two", "costCenter2"),  # a number already held is skipped
                    (one, "p-new", "COSTCENTER"),
                    (two, "p-other", "COSTcenter"),  # another account: kept
                ]
            ):
                conn.execute(
                    text(INSERT),
                    {
                        "a": account,
                        "id": prop_id,
                        "name": prop_id,
                        "key": prop_id,
                        "at": start + timedelta(days=day),
                        "s": scim_name,
                    },
                )
        engine.dispose()
    finally:
        migrate(database_url)
    engine = make_engine(database_url, pool=False)
    with engine.connect() as conn:
        names = dict(conn.execute(text("SELECT id, scim_name FROM member_property")).fetchall())
        after = dict(conn.execute(text("SELECT id, mapping_rev FROM account")).fetchall())
    assert names == {
        "p-old": "costCenter",
        "p-mid": "CostCenter3",
        "p-two": "costCenter2",
        "p-new": "COSTCENTER4",
        "p-other": "COSTcenter",
    }
    assert after == {one: revs[one] + 1, two: revs[two]}  # /Schemas follows the renames
    # The database itself now refuses a case variant, whoever writes it.
    with engine.connect() as conn, pytest.raises(ConflictError) as refused, conn.begin():
        store.set_attribute_name(conn, one, "p-two", "costcenter")
    assert refused.value.detail == (
        "Property 'p-old' already has the SCIM attribute 'costCenter' (attribute names are "
        "compared whatever their case)"
    )
    engine.dispose()


def test_a_rename_past_the_service_check_is_the_same_409(make_api, monkeypatch):
    """As if a concurrent rename had taken the name between the check and the write."""
    api = make_api()
    seats = api.ok("POST", "/properties", json={"name": "Seats", "type": "number"}, status=201)
    prop = api.ok("POST", "/properties", json={"name": "Cost center", "type": "text"}, status=201)
    path = f"/properties/{prop['id']}"
    checked = assert_problem(api.patch(path, json={"scim_attribute": "SEATS"}), 409)
    monkeypatch.setattr(scim_attributes, "_check_free", lambda *args: None)
    raced = assert_problem(api.patch(path, json={"scim_attribute": "SEATS"}), 409)
    assert raced["detail"] == checked["detail"]
    assert "Property 'Seats' already has the SCIM attribute 'seats'" in raced["detail"]
    # Nothing changed: the name, the extension path, the other Property.
    assert api.ok("GET", path)["scim_path"].endswith(":costCenter")
    assert api.ok("GET", f"/properties/{seats['id']}")["scim_path"].endswith(":seats")

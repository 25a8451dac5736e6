"""The setup link service: validity, states, audited use, and what it stores."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from scimgate.accounts import service as accounts
from scimgate.accounts import setup_links
from scimgate.errors import ForbiddenError, InvalidValueError, NotFoundError
from scimgate.store.tables.accounts import setup_link
from scimgate.timestamps import as_utc, utcnow
from tests.helpers.audit import entries


@pytest.fixture
def account_id(engine):
    with engine.begin() as conn:
        row = accounts.create_account(conn, "acme", entitled=True)
        accounts.activate_provisioning(conn, row["id"])
    return row["id"]


@pytest.mark.parametrize("value, days", [(None, 7), ("", 7), (" 30 ", 30), (1, 1)])
def test_days_default_to_seven_and_stop_at_thirty(value, days):
    assert setup_links.parse_days(value) == days


@pytest.mark.parametrize("value", [0, 31, "-1", "7.5", "seven", "٣"])
def test_other_validities_are_refused(value):
    with pytest.raises(InvalidValueError, match="1 to 30 days"):
        setup_links.parse_days(value)


def test_only_the_hash_is_stored_and_the_link_expires_when_said(engine, account_id):
    with engine.begin() as conn:
        issued = setup_links.create(conn, account_id, days=3, note="  Jane \n IT ")
    assert issued.token.startswith("sgs_") and len(issued.token) == 47
    with engine.connect() as conn:
        row = conn.execute(select(setup_link)).mappings().one()
        (listed,) = setup_links.list_links(conn, account_id)
    assert issued.token not in str(dict(row)) and row["link_hash"] != issued.token
    assert row["note"] == "Jane IT" and listed["state"] == "live"
    assert abs(as_utc(row["expires_at"]) - (utcnow() + timedelta(days=3))) < timedelta(minutes=1)
    with engine.connect() as conn:
        later = utcnow() + timedelta(days=3, minutes=1)
        assert setup_links.open_link(conn, issued.token, now=later) is None
        assert setup_links.list_links(conn, account_id, now=later)[0]["state"] == "expired"
        assert setup_links.open_link(conn, issued.token).account_id == account_id


def test_a_link_needs_active_provisioning(engine):
    with engine.begin() as conn:
        row = accounts.create_account(conn, "idle", entitled=True)
        with pytest.raises(ForbiddenError):
            setup_links.create(conn, row["id"])


def test_opening_is_audited_once_per_visit(engine, account_id):
    with engine.begin() as conn:
        issued = setup_links.create(conn, account_id)
    for _ in range(3):
        with engine.begin() as conn:
            setup_links.note_use(conn, setup_links.open_link(conn, issued.token), opened=True)
    opened = [e for e in entries(engine, account_id) if e["action"] == "setup_link.opened"]
    assert len(opened) == 1
    with engine.begin() as conn:  # back 31 minutes later: another visit
        conn.execute(update(setup_link).values(last_used_at=utcnow() - timedelta(minutes=31)))
        setup_links.note_use(conn, setup_links.open_link(conn, issued.token), opened=True)
    opened = [e for e in entries(engine, account_id) if e["action"] == "setup_link.opened"]
    assert len(opened) == 2


def test_revoking_twice_or_elsewhere_is_not_found(engine, account_id):
    with engine.begin() as conn:
        other = accounts.create_account(conn, "other", entitled=True)["id"]
        issued = setup_links.create(conn, account_id)
        with pytest.raises(NotFoundError):
            setup_links.revoke(conn, other, issued.id)
        setup_links.revoke(conn, account_id, issued.id, actor="it@acme.example")
        with pytest.raises(NotFoundError):
            setup_links.revoke(conn, account_id, issued.id)
        (row,) = setup_links.list_links(conn, account_id)
    assert row["state"] == "revoked" and row["revoked_by"] == "it@acme.example"


def test_a_link_pasted_into_a_note_is_cut_to_its_prefix_in_the_audit_log(engine, account_id):
    with engine.begin() as conn:
        first = setup_links.create(conn, account_id)
        setup_links.create(conn, account_id, note=f"replaces {first.token}")
    assert first.token not in str(entries(engine, account_id))

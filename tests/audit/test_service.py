"""audit.record and audit.list_page: written with the change, numbered per account, no
secrets, events in the same transaction, pages newest first."""

from __future__ import annotations

import pytest

from scimgate import audit
from scimgate.accounts import service as accounts
from scimgate.errors import InvalidValueError
from scimgate.store import events as event_store
from tests.helpers.audit import entries


def _account(engine, slug):
    with engine.begin() as conn:
        return accounts.create_account(conn, slug, entitled=True, actor="cli:opal")["id"]


def test_an_entry_and_its_event_are_written_together(engine):
    aid = _account(engine, "acme")
    with engine.begin() as conn:
        entry_id = audit.record(
            conn,
            aid,
            actor="it@acme.example",
            action="mapping.set",
            target="mapping Department",
            details={"target": "Department", "changes": {"source": ["title", "department"]}},
        )
    found = entries(engine, aid)[0]
    assert found["id"] == entry_id
    assert (found["actor"], found["action"], found["target"]) == (
        "it@acme.example",
        "mapping.set",
        "mapping Department",
    )
    assert found["details"]["changes"] == {"source": ["title", "department"]}
    with engine.connect() as conn:
        events = event_store.read(conn, aid, after=0, limit=100)
    last = events[-1]
    assert last["type"] == "audit.recorded" and last["subject_id"] == str(entry_id)
    assert last["data"] == {
        "entry_id": entry_id,
        "actor": "it@acme.example",
        "action": "mapping.set",
        "target": "mapping Department",
        "details": found["details"],
    }


def test_a_rolled_back_change_leaves_no_entry_and_no_event(engine):
    aid = _account(engine, "acme")
    before = entries(engine, aid)
    with engine.connect() as conn:
        seq = event_store.last_seq(conn, aid)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        audit.record(conn, aid, actor="cli:opal", action="token.issued", target="token 9")
        raise RuntimeError("the change failed after its entry was written")
    assert entries(engine, aid) == before
    with engine.connect() as conn:
        assert event_store.last_seq(conn, aid) == seq


def test_ids_are_numbered_per_account(engine):
    a, b = _account(engine, "acme"), _account(engine, "globex")
    with engine.begin() as conn:
        for n in range(3):
            audit.record(conn, a, actor="x@acme.example", action="t.a", target=f"a{n}")
        audit.record(conn, b, actor="y@globex.example", action="t.b", target="b0")
    assert [e["id"] for e in entries(engine, a)] == [4, 3, 2, 1]  # 1: account.created
    assert [e["id"] for e in entries(engine, b)] == [2, 1]
    assert {e["actor"] for e in entries(engine, b)} == {"cli:opal", "y@globex.example"}


@pytest.mark.parametrize("field", ["token", "key", "secret", "password", "Password"])
def test_a_field_named_like_a_secret_is_refused(engine, field):
    aid = _account(engine, "acme")
    with pytest.raises(ValueError, match="secret"), engine.begin() as conn:
        audit.record(conn, aid, actor="a", action="x.y", target="t", details={field: "v"})
    with pytest.raises(ValueError), engine.begin() as conn:
        audit.record(
            conn, aid, actor="a", action="x.y", target="t", details={"nested": [{field: "v"}]}
        )


def test_a_value_shaped_like_a_secret_keeps_only_its_prefix(engine):
    aid = _account(engine, "acme")
    token = "sgp_" + "A1b2C3d4" + "x" * 35
    key = "sgk_" + "Q" * 43
    signing = "whsec_" + "a" * 32
    with engine.begin() as conn:
        audit.record(
            conn,
            aid,
            actor=f"apikey:{key[:12]}",
            action="token.issued",
            target=f"token named {token}",
            details={"name": f"pasted {key}", "list": [signing], "prefix": token[:12]},
        )
    found = entries(engine, aid)[0]
    text = repr(found)
    assert token not in text and key not in text and signing not in text
    assert found["target"] == "token named sgp_A1b2C3d4…"
    assert found["details"] == {
        "name": f"pasted {key[:12]}…",
        "list": ["whsec_…"],
        "prefix": "sgp_A1b2C3d4",
    }


def test_pages_go_newest_first_and_end_with_no_cursor(engine):
    aid = _account(engine, "acme")
    with engine.begin() as conn:
        for n in range(6):
            audit.record(conn, aid, actor="a", action="t.x", target=f"t{n}")
    seen, cursor = [], None
    with engine.connect() as conn:
        while True:
            rows, cursor = audit.list_page(conn, aid, cursor=cursor, limit=3)
            seen.extend(r["id"] for r in rows)
            if cursor is None:
                break
    assert seen == [7, 6, 5, 4, 3, 2, 1]


@pytest.mark.parametrize("cursor", ["abc", "-1", "0", "1.5", "9" * 20, "١٢", " 3"])
def test_a_cursor_it_did_not_hand_out_is_refused(engine, cursor):
    aid = _account(engine, "acme")
    with pytest.raises(InvalidValueError, match="cursor"), engine.connect() as conn:
        audit.list_page(conn, aid, cursor=cursor)


def test_actors_name_each_door_without_secrets(monkeypatch):
    monkeypatch.setenv("LOGNAME", "opal")
    assert audit.cli_actor() == "cli:opal"
    assert audit.local_actor() == "local:opal"
    assert audit.console_actor("it@acme.example") == "it@acme.example"
    assert audit.api_key_actor("sgk_AbCdEfGh", "backend") == "apikey:sgk_AbCdEfGh (backend)"
    assert audit.api_key_actor("sgk_AbCdEfGh", "") == "apikey:sgk_AbCdEfGh"
    assert audit.SCHEDULER == "daily sync"

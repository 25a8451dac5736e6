"""The setup link service: validity, states, audited use, and what it stores."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from scimgate.accounts import service as accounts
from scimgate.accounts import setup_link_uses as uses
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


@pytest.mark.parametrize("value", [0, 31, "-1", "7.5", "seven", "٣", "²", "1" * 5000])
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


def _client(ip: str, browser: str, *, new: bool = False, agent: str = "Firefox/140"):
    return uses.SetupClient(ip=ip, user_agent=agent, browser=browser, new_browser=new)


def _note(engine, token: str, client, *, at=None) -> None:
    with engine.begin() as conn:
        visit = setup_links.open_link(conn, token)
        uses.note_use(conn, visit, client, at or utcnow())


def _opened(engine, account_id):
    return [e for e in entries(engine, account_id) if e["action"] == "setup_link.opened"]


def test_each_browser_and_address_is_audited_once_and_polls_add_nothing(engine, account_id):
    with engine.begin() as conn:
        issued = setup_links.create(conn, account_id)
    first = _client("203.0.113.5", "b1", new=True)  # a first visit: no cookie yet
    _note(engine, issued.token, first)
    for _ in range(5):  # its polls, with the cookie it was given
        _note(engine, issued.token, _client("203.0.113.5", "b1"))
    (entry,) = _opened(engine, account_id)
    assert entry["actor"] == f"setuplink:{issued.prefix}"
    assert entry["details"]["ip"] == "203.0.113.5"
    assert entry["details"]["user_agent"] == "Firefox/140"
    assert entry["details"]["browser"] == "b1"
    _note(engine, issued.token, _client("203.0.113.5", "b2", agent="curl/8"))  # another browser
    _note(engine, issued.token, _client("198.51.100.7", "b1"))  # the same one, elsewhere
    _note(engine, issued.token, _client("198.51.100.7", "b1"))
    seen = [(e["details"]["ip"], e["details"]["browser"]) for e in _opened(engine, account_id)]
    assert sorted(seen) == [("198.51.100.7", "b1"), ("203.0.113.5", "b1"), ("203.0.113.5", "b2")]


def test_clients_without_the_cookie_are_audited_once_a_minute_per_address(engine, account_id):
    with engine.begin() as conn:
        issued = setup_links.create(conn, account_id)
    now = utcnow()
    for n in range(5):  # curl without cookies: a new "browser" every time
        _note(engine, issued.token, _client("203.0.113.9", f"c{n}", new=True), at=now)
    assert len(_opened(engine, account_id)) == 1
    _note(engine, issued.token, _client("203.0.113.10", "c9", new=True), at=now)
    later = now + uses.USE_QUIET + timedelta(seconds=1)
    _note(engine, issued.token, _client("203.0.113.9", "c7", new=True), at=later)
    assert len(_opened(engine, account_id)) == 3


def test_a_request_log_entry_opened_is_audited_once_per_browser(engine, account_id):
    with engine.begin() as conn:
        issued = setup_links.create(conn, account_id)
    for browser, entry_id in (("b1", 7), ("b1", 7), ("b1", 8), ("b2", 7)):
        with engine.begin() as conn:
            visit = setup_links.open_link(conn, issued.token)
            uses.note_view(conn, visit, _client("203.0.113.5", browser), entry_id, utcnow())
    viewed = [
        (e["details"]["browser"], e["details"]["entry_id"])
        for e in entries(engine, account_id)
        if e["action"] == "setup_link.request_viewed"
    ]
    assert sorted(viewed) == [("b1", 7), ("b1", 8), ("b2", 7)]


def test_last_use_is_written_at_most_once_a_minute(engine, account_id):
    with engine.begin() as conn:
        issued = setup_links.create(conn, account_id)
    client = _client("203.0.113.5", "b1")
    _note(engine, issued.token, client)
    with engine.connect() as conn:
        visit = setup_links.open_link(conn, issued.token)
        assert visit.last_used_at is not None
        assert not uses.use_to_note(conn, visit, client, utcnow())
        assert uses.use_to_note(conn, visit, client, utcnow() + timedelta(minutes=1)).touch


def _issue(engine, token: str):
    with engine.begin() as conn:
        return setup_links.issue_token(conn, setup_links.open_link(conn, token))


def test_a_link_issues_at_most_three_tokens_counted_by_link_id(engine, account_id):
    with engine.begin() as conn:
        link, other = setup_links.create(conn, account_id), setup_links.create(conn, account_id)
        # An admin's token that borrows the name a link gives its tokens is not the link's.
        accounts.issue_token(conn, account_id, name=f"setup link {link.prefix}")
    issued = [_issue(engine, link.token) for _ in range(setup_links.MAX_TOKENS)]
    with pytest.raises(ForbiddenError, match="already issued 3 Secret Tokens"):
        _issue(engine, link.token)
    _issue(engine, other.token)  # the cap is per link
    with engine.connect() as conn:
        rows = {r["id"]: r for r in setup_links.list_links(conn, account_id)}
        mine = setup_links.tokens_of(conn, setup_links.open_link(conn, link.token))
    assert [t["id"] for t in mine] == [t.id for t in issued]
    assert (rows[link.id]["tokens_issued"], rows[link.id]["tokens_live"]) == (3, 3)
    assert (rows[other.id]["tokens_issued"], rows[other.id]["tokens_live"]) == (1, 1)
    details = [e["details"] for e in entries(engine, account_id) if e["action"] == "token.issued"]
    assert sorted(d["setup_link_id"] for d in details if "setup_link_id" in d) == [
        link.id,
        link.id,
        link.id,
        other.id,
    ]


def test_revoking_a_link_can_revoke_the_tokens_it_issued(engine, account_id):
    with engine.begin() as conn:
        link = setup_links.create(conn, account_id)
        kept = accounts.issue_token(conn, account_id, name=f"setup link {link.prefix}")
    first, second = _issue(engine, link.token), _issue(engine, link.token)
    with engine.begin() as conn:
        accounts.revoke_token(conn, account_id, first.id)
        ended = setup_links.revoke(conn, account_id, link.id, actor="it@acme", revoke_tokens=True)
    assert ended == [second.id]
    with engine.connect() as conn:
        assert accounts.authenticate(conn, second.token) is None
        assert accounts.authenticate(conn, kept.token) is not None
        (row,) = setup_links.list_links(conn, account_id)
    assert (row["tokens_issued"], row["tokens_live"]) == (2, 0)
    log = entries(engine, account_id)
    (revoked,) = [e for e in log if e["action"] == "setup_link.revoked"]
    assert revoked["details"]["tokens_revoked"] == [second.id]
    assert next(e["target"] for e in log if e["action"] == "token.revoked") == f"token {second.id}"


def test_revoking_a_link_leaves_its_tokens_unless_asked(engine, account_id):
    with engine.begin() as conn:
        link = setup_links.create(conn, account_id)
    token = _issue(engine, link.token)
    with engine.begin() as conn:
        assert setup_links.revoke(conn, account_id, link.id) == []
        assert accounts.authenticate(conn, token.token) is not None


def test_a_revoked_link_issues_no_token(engine, account_id):
    with engine.begin() as conn:
        link = setup_links.create(conn, account_id)
        visit = setup_links.open_link(conn, link.token)
        setup_links.revoke(conn, account_id, link.id)
        with pytest.raises(NotFoundError):
            setup_links.issue_token(conn, visit)


def test_every_live_link_is_listed_first_however_many_ended(engine, account_id):
    with engine.begin() as conn:
        oldest = setup_links.create(conn, account_id, note="oldest, still live")
        for _ in range(55):
            ended = setup_links.create(conn, account_id)
            setup_links.revoke(conn, account_id, ended.id)
        newest = setup_links.create(conn, account_id)
        rows = setup_links.list_links(conn, account_id)
    assert [r["id"] for r in rows[:2]] == [newest.id, oldest.id]
    assert [r["state"] for r in rows[2:]] == ["revoked"] * 50


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

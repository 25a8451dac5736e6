"""API keys: the `scimgate apikey` CLI contract, and what a key (and only a key) opens."""

from __future__ import annotations

import hashlib
import json

import pytest
from typer.testing import CliRunner

from scimgate.cli import app as cli_app
from tests.helpers.api import PROBLEM, assert_problem, issue_key


@pytest.fixture
def cli(database_url, monkeypatch):
    monkeypatch.setenv("SCIMGATE_DATABASE_URL", database_url)
    monkeypatch.setenv("SCIMGATE_PUBLIC_URL", "https://idp.example.test/")
    runner = CliRunner()

    def run(*args):
        return runner.invoke(cli_app, list(args))

    return run


def create(cli, slug="acme", *extra):
    r = cli("apikey", "create", slug, *extra, "--json")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1, r.stdout  # one JSON document, nothing else
    doc = json.loads(lines[0])
    assert set(doc) >= {"id", "key", "prefix"}
    return doc


def listed(cli, slug="acme"):
    r = cli("apikey", "list", slug, "--json")
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def unauthorized(r):
    doc = assert_problem(r, 401)
    assert isinstance(doc["detail"], str) and doc["detail"]
    assert r.headers["www-authenticate"].lower().startswith("bearer")
    return doc


# ---- the CLI ----


def test_create_prints_one_json_document_with_a_working_key(cli, make_account, http):
    make_account("acme")
    doc = create(cli, "acme", "--name", "billing sync")
    assert isinstance(doc["id"], int)
    assert doc["key"].startswith("sgk_") and len(doc["key"]) >= 40
    assert doc["key"].startswith(doc["prefix"])
    r = http.get("/api/v1/members", headers={"Authorization": f"Bearer {doc['key']}"})
    assert r.status_code == 200, r.text
    assert r.json() == {"data": [], "next_cursor": None}


def test_create_without_json_shows_the_key_once(cli, make_account):
    make_account("acme")
    r = cli("apikey", "create", "acme")
    assert r.exit_code == 0, r.stderr
    assert "sgk_" in r.stdout and r.stderr == ""


def test_list_never_shows_the_key_or_its_hash(cli, make_account):
    make_account("acme")
    first = create(cli, "acme", "--name", "one")
    second = create(cli, "acme", "--name", "two")
    rows = listed(cli)
    assert [row["id"] for row in rows] == [second["id"], first["id"]]
    assert [row["name"] for row in rows] == ["two", "one"]
    text = json.dumps(rows)
    for issued in (first, second):
        assert issued["key"] not in text
        assert hashlib.sha256(issued["key"].encode()).hexdigest() not in text
        assert issued["key"][12:] not in text  # no part past the shown prefix
    assert all("hash" not in field and field != "key" for row in rows for field in row)
    assert {row["prefix"] for row in rows} == {first["prefix"], second["prefix"]}
    plain = cli("apikey", "list", "acme")
    assert plain.exit_code == 0
    assert first["key"] not in plain.stdout and second["key"] not in plain.stdout
    assert "live" in plain.stdout and "never" in plain.stdout


def test_revoke_then_revoke_again(cli, make_account, http):
    make_account("acme")
    doc = create(cli)
    headers = {"Authorization": f"Bearer {doc['key']}"}
    assert http.get("/api/v1/members", headers=headers).status_code == 200
    r = cli("apikey", "revoke", "acme", str(doc["id"]))
    assert r.exit_code == 0, r.stderr
    assert str(doc["id"]) in r.stdout
    (row,) = listed(cli)
    assert row["revoked_at"] is not None
    unauthorized(http.get("/api/v1/members", headers=headers))
    again = cli("apikey", "revoke", "acme", str(doc["id"]))
    assert again.exit_code == 1
    assert again.stdout == ""
    assert len(again.stderr.strip().splitlines()) == 1 and "Traceback" not in again.stderr
    assert str(doc["id"]) in again.stderr


def test_revoking_another_accounts_key_is_refused(cli, make_account, http):
    make_account("acme")
    make_account("other")
    theirs = create(cli, "other")
    r = cli("apikey", "revoke", "acme", str(theirs["id"]))
    assert r.exit_code == 1 and len(r.stderr.strip().splitlines()) == 1
    headers = {"Authorization": f"Bearer {theirs['key']}"}
    assert http.get("/api/v1/members", headers=headers).status_code == 200


@pytest.mark.parametrize(
    "args",
    [
        ("apikey", "create", "ghost"),
        ("apikey", "create", "ghost", "--json"),
        ("apikey", "list", "ghost"),
        ("apikey", "list", "ghost", "--json"),
        ("apikey", "revoke", "ghost", "1"),
    ],
)
def test_unknown_account_is_exit_1_with_one_line(cli, args):
    r = cli(*args)
    assert r.exit_code == 1
    assert r.stdout == ""
    assert "No account" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.output


def test_last_used_at_is_set_after_use(cli, make_account, http):
    make_account("acme")
    doc = create(cli)
    (row,) = listed(cli)
    assert row["last_used_at"] is None
    r = http.get("/api/v1/members", headers={"Authorization": f"Bearer {doc['key']}"})
    assert r.status_code == 200
    (row,) = listed(cli)
    assert row["last_used_at"] is not None
    assert "never" not in cli("apikey", "list", "acme").stdout


def test_a_failed_attempt_does_not_touch_last_used_at(cli, make_account, http):
    make_account("acme")
    doc = create(cli)
    r = http.get("/api/v1/members", headers={"Authorization": f"Bearer {doc['key']}x"})
    assert r.status_code == 401
    assert listed(cli)[0]["last_used_at"] is None


# ---- what opens what ----


def test_a_provisioning_token_does_not_open_the_host_api(http, make_account):
    _slug, token, _aid = make_account()
    assert token.startswith("sgp_")
    for path in ("/api/v1/members", "/api/v1/teams", "/api/v1/sync-runs", "/api/v1/properties"):
        unauthorized(http.get(path, headers={"Authorization": f"Bearer {token}"}))


def test_an_api_key_does_not_open_scim(http, engine, make_account):
    slug, token, _aid = make_account()
    _kid, key = issue_key(engine, slug)
    r = http.get("/scim/v2/Users", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 401
    assert http.get("/scim/v2/Users", headers={"Authorization": f"Bearer {token}"}).status_code == (
        200
    )


def test_a_revoked_key_is_401_at_once(api, engine):
    assert api.get("/members").status_code == 200
    with engine.begin() as conn:
        from scimgate.accounts import api_keys

        api_keys.revoke_key(conn, api.account_id, api.key_id)
    unauthorized(api.get("/members"))
    unauthorized(api.post("/members", json={"email": "a@example.com"}))


def test_a_second_key_keeps_working_when_one_is_revoked(api, engine):
    _kid, second = issue_key(engine, api.slug, "second")
    with engine.begin() as conn:
        from scimgate.accounts import api_keys

        api_keys.revoke_key(conn, api.account_id, api.key_id)
    r = api.get("/members", headers={"Authorization": f"Bearer {second}"})
    assert r.status_code == 200


def test_the_401_problem_document(http):
    r = http.get("/api/v1/members")
    doc = unauthorized(r)
    assert r.headers["content-type"].startswith(PROBLEM)
    assert doc["status"] == 401 and type(doc["status"]) is int
    assert doc["title"] == "Unauthorized"
    assert doc["type"] == "about:blank"
    assert doc.get("instance") == "/api/v1/members"
    assert "sgk_" in doc["detail"]  # it says what to send


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("Bearer", id="scheme-only"),
        pytest.param("Bearer ", id="scheme-and-space"),
        pytest.param("Bearer    ", id="scheme-and-spaces"),
        pytest.param("{key}", id="no-scheme"),
        pytest.param("Basic {key}", id="basic"),
        pytest.param("Basic YWRtaW46cGFzc3dvcmQ=", id="basic-credentials"),
        pytest.param("Token {key}", id="other-scheme"),
        pytest.param("Bearer {key}x", id="key-plus-one"),
        pytest.param("Bearer {key} {key}", id="key-twice"),
        pytest.param("Bearer sgk_", id="prefix-only"),
        pytest.param("Bearer sgk_" + "A" * 252, id="256-long"),
        pytest.param("Bearer sgk_" + "A" * 20_000, id="very-long"),
        pytest.param("Bearer " + "x" * 100_000, id="huge-not-a-key"),
        pytest.param("Bearer sgk_\x00abc", id="nul"),
        pytest.param("Bearer {key}\x00", id="key-then-nul"),
        pytest.param("Bearer \x00", id="only-nul"),
        pytest.param("Bearer sgk_ÿþý", id="latin-1"),
        pytest.param("Bearer\t{key}", id="tab-separated"),
    ],
)
def test_malformed_authorization_is_401_never_5xx(api, header):
    headers = {}
    if header is not None:
        value = header.replace("{key}", api.key)
        headers["Authorization"] = value.encode("latin-1")
    r = api.http.get("/api/v1/members", headers=headers)
    unauthorized(r)
    r = api.http.post("/api/v1/sync-runs", headers=headers, json={"dry_run": True})
    unauthorized(r)


def test_the_scheme_is_case_insensitive(api):
    for scheme in ("bearer", "BEARER", "Bearer"):
        r = api.http.get("/api/v1/members", headers={"Authorization": f"{scheme} {api.key}"})
        assert r.status_code == 200, scheme


def test_an_unauthenticated_request_changes_nothing(api):
    r = api.http.post("/api/v1/members", json={"email": "eve@example.com"})
    unauthorized(r)
    r = api.http.post(
        "/api/v1/members",
        json={"email": "eve@example.com"},
        headers={"Authorization": "Bearer sgk_wrong"},
    )
    unauthorized(r)
    assert api.ok("GET", "/members")["data"] == []


@pytest.mark.parametrize(
    "content",
    [b"{", b"not json", b'{"email": '],
)
def test_no_key_is_401_even_with_a_malformed_json_body(http, content):
    r = http.post("/api/v1/members", content=content, headers={"Content-Type": "application/json"})
    unauthorized(r)

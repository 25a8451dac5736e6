"""Setup links through /api/v1 and the command line: create, list, revoke, and refusals."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from scimgate.cli import app as cli_app
from tests.helpers.api import assert_invalid, assert_problem
from tests.helpers.audit import entries
from tests.helpers.console import browser, csrf_of
from tests.setup.test_setup_pages import TOKEN


def test_api_creates_lists_and_revokes(make_api, engine, http):
    api = make_api()
    created = api.ok("POST", "/setup-links", 201, json={"days": 2, "note": "Contoso IT"})
    assert created["url"].startswith("https://scim.example.test/setup/sgs_")
    token = created["url"].rsplit("/", 1)[1]
    assert http.get(f"/setup/{token}").status_code == 200
    (listed,) = api.ok("GET", "/setup-links")["data"]
    assert listed["state"] == "live" and listed["note"] == "Contoso IT"
    assert listed["created_by"].startswith("apikey:") and token not in json.dumps(listed)
    assert listed["last_used_at"] is not None
    r = api.post(f"/setup-links/{created['id']}/revoke")
    assert r.status_code == 204
    assert api.ok("GET", "/setup-links")["data"][0]["state"] == "revoked"
    assert http.get(f"/setup/{token}").status_code == 404
    assert_problem(api.post(f"/setup-links/{created['id']}/revoke"), 404)
    actions = [e["action"] for e in entries(engine, api.account_id)]
    assert {"setup_link.created", "setup_link.opened", "setup_link.revoked"} <= set(actions)


@pytest.mark.parametrize(
    "body", [{"days": 0}, {"days": 31}, {"days": "x"}, {"note": "x" * 256}, {"other": 1}]
)
def test_api_refuses_bad_input(make_api, body):
    assert_invalid(make_api().post("/setup-links", json=body))


def test_api_scopes_links_by_account(make_api):
    a, b = make_api(), make_api()
    created = b.ok("POST", "/setup-links", 201, json={})
    assert_problem(a.post(f"/setup-links/{created['id']}/revoke"), 404)
    assert a.ok("GET", "/setup-links")["data"] == []
    assert b.ok("GET", "/setup-links")["data"][0]["state"] == "live"
    assert_invalid(a.post("/setup-links/99999999999999999999/revoke"))


@pytest.fixture
def cli(database_url, monkeypatch):
    monkeypatch.setenv("SCIMGATE_DATABASE_URL", database_url)
    monkeypatch.setenv("SCIMGATE_PUBLIC_URL", "https://idp.example.test/")
    runner = CliRunner()
    return lambda *args: runner.invoke(cli_app, list(args))


def test_cli_creates_lists_and_revokes(cli):
    cli("account", "create", "acme", "--entitled")
    r = cli("setuplink", "create", "acme", "--days", "3")
    assert r.exit_code == 1 and "Activate user provisioning first" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    cli("provisioning", "activate", "acme")
    doc = json.loads(cli("setuplink", "create", "acme", "--note", "Jane", "--json").stdout)
    assert doc["url"].startswith("https://idp.example.test/setup/sgs_")
    listed = cli("setuplink", "list", "acme")
    assert "live" in listed.stdout and "cli:" in listed.stdout and doc["url"] not in listed.stdout
    for days in ("0", "31"):
        bad = cli("setuplink", "create", "acme", "--days", days)
        assert bad.exit_code == 1 and "1 to 30 days" in bad.stderr
    assert cli("setuplink", "revoke", "acme", str(doc["id"])).exit_code == 0
    again = cli("setuplink", "revoke", "acme", str(doc["id"]))
    assert again.exit_code == 1 and "No unrevoked setup link" in again.stderr
    assert json.loads(cli("setuplink", "list", "acme", "--json").stdout)[0]["state"] == "revoked"
    ghost = cli("setuplink", "list", "ghost")
    assert ghost.exit_code == 1 and "No account" in ghost.stderr


def _issue_through(app, token: str) -> str:
    with browser(app, "203.0.113.50") as it:
        page = it.get(f"/setup/{token}")
        r = it.post(f"/setup/{token}/token", data={"csrf_token": csrf_of(page.text)})
        return TOKEN.search(r.text).group(1)


def test_api_lists_token_counts_and_revokes_the_links_tokens(make_api, app, http):
    api = make_api()
    created = api.ok("POST", "/setup-links", 201, json={})
    link = created["url"].rsplit("/", 1)[1]
    secrets = [_issue_through(app, link) for _ in range(2)]
    (listed,) = api.ok("GET", "/setup-links")["data"]
    assert (listed["tokens_issued"], listed["tokens_live"]) == (2, 2)
    r = api.post(f"/setup-links/{created['id']}/revoke?revoke_tokens=true")
    assert r.status_code == 204
    (listed,) = api.ok("GET", "/setup-links")["data"]
    assert (listed["state"], listed["tokens_issued"], listed["tokens_live"]) == ("revoked", 2, 0)
    for secret in secrets:
        assert (
            http.get("/scim/v2/Users", headers={"Authorization": f"Bearer {secret}"}).status_code
            == 401
        )


def test_cli_revokes_a_links_tokens_when_asked(cli, database_url):
    from scimgate.accounts import setup_links
    from scimgate.store.database import make_engine

    cli("account", "create", "acme", "--entitled")
    cli("provisioning", "activate", "acme")
    doc = json.loads(cli("setuplink", "create", "acme", "--json").stdout)
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            visit = setup_links.open_link(conn, doc["url"].rsplit("/", 1)[1])
            issued = setup_links.issue_token(conn, visit)
    finally:
        engine.dispose()
    assert "tokens 1 (1 live)" in cli("setuplink", "list", "acme").stdout
    r = cli("setuplink", "revoke", "acme", str(doc["id"]), "--revoke-tokens")
    assert r.exit_code == 0, r.output
    assert f"Secret Tokens it issued, revoked: {issued.id}" in r.stdout
    listed = json.loads(cli("setuplink", "list", "acme", "--json").stdout)[0]
    assert (listed["tokens_issued"], listed["tokens_live"]) == (1, 0)

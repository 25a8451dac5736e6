"""Endpoint URLs: loopback, private, link-local and non-http(s) URLs are refused when added
(service and CLI) and again at delivery, unless the operator allows private addresses."""

from __future__ import annotations

import base64
import json

import pytest

from scimgate.errors import InvalidValueError
from tests.helpers.webhooks import add_endpoint, add_members, delivery_log, endpoint

PRIVATE = [
    "http://127.0.0.1/hook",
    "http://127.0.0.1:8080/hook",
    "http://localhost/hook",
    "http://LOCALHOST./hook",
    "http://10.0.0.1/hook",
    "http://192.168.1.10/hook",
    "http://172.16.0.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://0.0.0.0/hook",
    "http://2130706433/hook",  # 127.0.0.1 as one number
    "https://127.1/hook",
]
NEVER = [
    "file:///etc/passwd",
    "ftp://8.8.8.8/hook",
    "gopher://8.8.8.8/hook",
    "https://user:pass@8.8.8.8/hook",
    "http://user:pass@127.0.0.1/hook",
    "https://token@8.8.8.8/hook",
    "http:///hook",
    "not a url",
    "",
    "https://8.8.8.8/" + "a" * 2100,
]


def count(engine, slug):
    from scimgate.accounts.lookup import account_by_slug
    from scimgate.webhooks import service

    with engine.connect() as conn:
        return len(service.list_endpoints(conn, account_by_slug(conn, slug)["id"]))


@pytest.mark.parametrize("url", PRIVATE + NEVER)
def test_private_urls_refused(scim, engine, url):
    with pytest.raises(InvalidValueError):
        add_endpoint(engine, scim.slug, url, allow_private=False)
    assert count(engine, scim.slug) == 0


@pytest.mark.parametrize("url", NEVER)
def test_bad_urls_refused_even_when_private_is_allowed(scim, engine, url):
    with pytest.raises(InvalidValueError):
        add_endpoint(engine, scim.slug, url, allow_private=True)


def test_allowed_urls(scim, engine):
    # A public address needs no permission (an IP literal: no DNS needed).
    public = add_endpoint(
        engine, scim.slug, " https://8.8.8.8/hooks/scimgate ", allow_private=False
    )
    assert public["url"] == "https://8.8.8.8/hooks/scimgate"
    for url in ("http://127.0.0.1:9/hook", "http://localhost/hook", "http://[::1]:9/hook"):
        add_endpoint(engine, scim.slug, url, allow_private=True)
    assert count(engine, scim.slug) == 4
    with pytest.raises(InvalidValueError, match="Unknown event type"):
        add_endpoint(engine, scim.slug, "https://8.8.8.8/x", ["member.exploded"])


def test_private_url_refused_again_at_delivery(scim, engine, receiver, settings, make_deliverer):
    """Added while private addresses were allowed; a process without the permission refuses."""
    hook = add_endpoint(engine, scim.slug, receiver.url("/p"), allow_private=True)
    add_members(engine, scim.account_id, "p", 1)
    strict = settings.model_copy(update={"webhook_retry_seconds": [60.0]})
    assert make_deliverer(settings=strict).tick() == 1
    assert receiver.requests == []
    (attempt,) = delivery_log(engine, scim.slug, hook["id"])
    assert attempt["status_code"] is None and "private" in attempt["error"]
    assert endpoint(engine, scim.slug, hook["id"])["cursor"] == attempt["event_seq"] - 1


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "file:///etc/passwd",
        "ftp://8.8.8.8/hook",
        "https://user:pass@8.8.8.8/hook",
    ],
)
def test_cli_webhook_add_refuses(scim, engine, cli, url):
    r = cli("webhook", "add", scim.slug, url, "--json")
    assert r.exit_code == 1
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Traceback" not in r.output
    assert count(engine, scim.slug) == 0


def test_cli_webhook_add_with_private_allowed(scim, engine, cli, receiver):
    env = {"SCIMGATE_WEBHOOKS_ALLOW_PRIVATE": "true"}
    r = cli("webhook", "add", scim.slug, receiver.url("/cli"), "--json", env=env)
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert set(doc) == {"id", "secret"}
    assert doc["secret"].startswith("whsec_") and len(base64.b64decode(doc["secret"][6:])) == 24
    r = cli(
        "webhook",
        "add",
        scim.slug,
        "http://localhost:9/x",
        "--event",
        "member.created",
        "--event",
        "team.created",
        env=env,
    )
    assert r.exit_code == 0, r.stderr
    assert "whsec_" in r.stdout
    listed = json.loads(cli("webhook", "list", scim.slug, "--json").stdout)
    assert [(e["url"], e["event_types"], e["status"]) for e in listed] == [
        (receiver.url("/cli"), [], "active"),
        ("http://localhost:9/x", ["member.created", "team.created"], "active"),
    ]
    assert all("secret" not in e for e in listed)
    assert doc["secret"] not in cli("webhook", "list", scim.slug).stdout
    # Still refused with the permission: a bad event type, a non-http(s) URL.
    r = cli("webhook", "add", scim.slug, receiver.url("/x"), "--event", "nope", env=env)
    assert r.exit_code == 1 and "Unknown event type" in r.stderr
    r = cli("webhook", "add", scim.slug, "ftp://127.0.0.1/x", env=env)
    assert r.exit_code == 1 and len(r.stderr.splitlines()) == 1
    r = cli("webhook", "remove", scim.slug, str(doc["id"]))
    assert r.exit_code == 0
    r = cli("webhook", "remove", scim.slug, str(doc["id"]))
    assert r.exit_code == 1 and "No webhook endpoint" in r.stderr

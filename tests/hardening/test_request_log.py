"""The request log survives what requests can send it and what the database can do to it:
nesting that once killed the writer, NUL bytes PostgreSQL refuses, one bad entry in a batch,
a database that is away, a writer task that dies; and no credential reaches a row."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from sqlalchemy import create_engine, select
from starlette.testclient import TestClient

from scimgate.store.database import utcnow
from scimgate.store.tables.operations import request_log
from scimgate.web import redaction
from scimgate.web import request_log as rl
from scimgate.web.request_log import RequestLogBuffer
from scimgate.webhooks.service import new_secret
from tests.helpers.databases import PG_URL
from tests.helpers.loops import run_async
from tests.helpers.scim import user_body

TEXT_COLUMNS = ("method", "path", "query", "detail", "ignored", "request_body", "response_body")


def rows(engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        found = conn.execute(select(request_log).order_by(request_log.c.id)).mappings().all()
    return [dict(r) for r in found]


def entry(account_id: int, **extra: Any) -> dict[str, Any]:
    """One log entry as the SCIM endpoint queues it."""
    base = {
        "account_id": account_id,
        "at": utcnow(),
        "method": "POST",
        "path": "/Users",
        "query": "",
        "status": 400,
        "duration_ms": 1,
        "scim_type": None,
        "detail": None,
        "ignored": None,
        "resource_id": None,
        "request_body": b"",
        "response_body": b"",
    }
    return {**base, **extra}


@pytest.fixture
def buffer(engine) -> RequestLogBuffer:
    return RequestLogBuffer(engine, max_rows=1000, max_days=30, flush_seconds=0.02)


# ---- nesting -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "[" * 1000 + "]" * 1000,  # parses (orjson allows 1024 levels), once a RecursionError
        "[" * 5000 + "]" * 5000,  # does not parse: kept as text
        '{"a":' * 1000 + '{"password": "hunter2"}' + "}" * 1000,
    ],
    ids=["arrays-1000", "arrays-5000", "objects-1000-with-a-password"],
)
def test_deeply_nested_bodies_are_logged_and_the_log_goes_on(scim, app, engine, body):
    buffer = app.state.request_log
    assert scim.post("/Users", content=body).status_code == 400
    assert buffer.flush() == 1
    assert scim.post("/Users", json=user_body("after@example.com")).status_code == 201
    assert buffer.flush() == 1
    deep, after = rows(engine)
    assert deep["request_body"].startswith("[") or deep["request_body"].startswith("{")
    assert "hunter2" not in deep["request_body"]
    assert "after@example.com" in after["request_body"]
    assert buffer.failures_total == 0 and buffer.written_total == 2


def test_nesting_is_cut_at_max_depth():
    value: Any = "bottom"
    for _ in range(redaction.MAX_DEPTH + 10):
        value = [value]
    cut = redaction.redact_json(value)
    for _ in range(redaction.MAX_DEPTH - 1):
        cut = cut[0]
    assert isinstance(cut, list) and cut[0].startswith("[cut: nested deeper")


# ---- NUL bytes and column bounds -------------------------------------------------------------


def test_nul_bytes_in_path_query_and_body_are_written_without_them(scim, app, engine):
    scim.get("/Users/ab%00cd", params={"filter": 'userName eq "a\x00b"'})
    scim.post("/Users", content=b"not json \x00 at all")
    scim.post("/Users", json=user_body("nul\x00@example.com"))
    assert app.state.request_log.flush() == 3
    logged = rows(engine)
    assert len(logged) == 3
    for row in logged:
        for column in TEXT_COLUMNS:
            assert "\x00" not in (row[column] or ""), (column, row[column])
    assert "\ufffd" in logged[0]["path"] and "%00" in logged[0]["query"]
    assert "\ufffd" in logged[1]["request_body"]


def test_text_is_cut_to_its_column(buffer, scim, engine):
    buffer.add(entry(scim.account_id, method="VERYLONGMETHOD", path="/" + "p" * 3000))
    assert buffer.flush() == 1
    (row,) = rows(engine)
    assert row["method"] == "VERYLONG" and len(row["path"]) == 1024


def test_one_refused_entry_does_not_lose_the_batch(buffer, scim, engine, caplog):
    for i in range(3):
        buffer.add(entry(scim.account_id, path=f"/ok{i}"))
    buffer.add(entry(scim.account_id + 999, path="/no-such-account"))  # foreign key refused
    buffer.add(entry(scim.account_id, path="/ok3"))
    with caplog.at_level(logging.ERROR, "scimgate.request_log"):
        assert buffer.flush() == 4
    assert [r["path"] for r in rows(engine)] == ["/ok0", "/ok1", "/ok2", "/ok3"]
    assert (buffer.written_total, buffer.dropped_total, buffer.failures_total) == (4, 1, 1)
    assert "dropped 1" in buffer.last_error and buffer.backlog == 0
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1


@pytest.mark.skipif(not PG_URL, reason="SQLite stores NUL: only PostgreSQL refuses it")
def test_postgresql_refusing_a_nul_loses_only_that_entry(buffer, scim, engine, monkeypatch):
    monkeypatch.setattr(rl, "clean_text", lambda text: text)  # the sanitizing is the fix
    buffer.add(entry(scim.account_id, path="/ok"))
    buffer.add(entry(scim.account_id, path="/nul\x00"))
    assert buffer.flush() == 1
    assert [r["path"] for r in rows(engine)] == ["/ok"] and buffer.dropped_total == 1


def test_an_entry_that_cannot_be_redacted_is_logged_without_its_text(
    buffer, scim, engine, monkeypatch, caplog
):
    def explode(raw: Any) -> str:
        if raw and b"explode" in raw:
            raise RecursionError("maximum recursion depth exceeded")
        return original(raw)

    original = rl.redact_body
    monkeypatch.setattr(rl, "redact_body", explode)
    buffer.add(entry(scim.account_id, path="/a", request_body=b'{"x": "explode"}'))
    buffer.add(entry(scim.account_id, path="/b", request_body=b'{"x": "fine"}'))
    with caplog.at_level(logging.ERROR, "scimgate.request_log"):
        assert buffer.flush() == 2
    bad, good = rows(engine)
    assert bad["path"] == "/a" and bad["request_body"] == rl.UNREDACTABLE
    assert "fine" in good["request_body"]
    assert buffer.failures_total == 1 and "RecursionError" in buffer.last_error
    assert any("could not be redacted" in r.getMessage() for r in caplog.records)


# ---- a database that is away ---------------------------------------------------------------


def test_database_away_keeps_the_backlog_and_the_next_flush_writes_it(buffer, scim, engine):
    buffer.engine = create_engine("sqlite:////nonexistent-dir/for/scimgate.db")
    for i in range(3):
        buffer.add(entry(scim.account_id, path=f"/p{i}"))
    assert buffer.flush() == 0
    assert buffer.backlog == 3 and buffer.failures_total == 1 and buffer.dropped_total == 0
    assert "retrying" in buffer.last_error
    buffer.engine = engine
    buffer.add(entry(scim.account_id, path="/p3"))
    assert buffer.flush() == 4
    assert [r["path"] for r in rows(engine)] == ["/p0", "/p1", "/p2", "/p3"]
    assert buffer.backlog == 0 and buffer.written_total == 4


def test_the_backlog_is_bounded_and_what_is_shed_is_counted(buffer, scim, monkeypatch):
    monkeypatch.setattr(rl, "_MAX_BACKLOG", 10)
    for i in range(11):
        buffer.add(entry(scim.account_id, path=f"/p{i}"))
    assert buffer.backlog == 6 and buffer.dropped_total == 5 and buffer.failures_total == 1


# ---- the writer task -----------------------------------------------------------------------


async def until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.01)


class Dead(BaseException):
    """Not an Exception: nothing in run() catches it, so the task dies."""


def test_a_failing_flush_is_reported_and_the_writer_goes_on(buffer, scim, engine, caplog):
    original, calls = buffer.flush, []

    def flaky() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return original()

    buffer.flush = flaky  # type: ignore[method-assign]

    async def scenario() -> None:
        task = buffer.start()
        await until(lambda: buffer.failures_total == 1)
        assert not buffer.healthy and "RuntimeError: boom" in buffer.last_error
        buffer.add(entry(scim.account_id, path="/later"))
        await until(lambda: buffer.written_total == 1)
        assert buffer.healthy and not task.done() and buffer.restarts_total == 0
        await buffer.stop()

    with caplog.at_level(logging.ERROR, "scimgate.request_log"):
        run_async(scenario)
    assert [r["path"] for r in rows(engine)] == ["/later"]
    assert len([r for r in caplog.records if "boom" in r.getMessage()]) == 1


def test_a_dead_writer_is_restarted_and_reported(buffer, scim, engine, caplog):
    original, calls = buffer.flush, []

    def fatal() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise Dead()
        return original()

    buffer.flush = fatal  # type: ignore[method-assign]

    async def scenario() -> None:
        first = buffer.start()
        await until(lambda: buffer.restarts_total == 1)
        assert first.done() and buffer.healthy  # another task writes
        buffer.add(entry(scim.account_id, path="/after-restart"))
        await until(lambda: buffer.written_total == 1)
        await buffer.stop()
        assert buffer.restarts_total == 1  # stopping is not dying

    with caplog.at_level(logging.ERROR, "scimgate.request_log"):
        run_async(scenario)
    assert [r["path"] for r in rows(engine)] == ["/after-restart"]
    assert "Dead" in buffer.last_error and buffer.failures_total >= 1
    assert len([r for r in caplog.records if "restarted" in r.getMessage()]) == 1


def test_ensure_running_restarts_a_cancelled_writer(buffer):
    async def scenario() -> None:
        task = buffer.start()
        assert buffer.ensure_running() and buffer.restarts_total == 0
        task.cancel()
        await asyncio.sleep(0.05)
        assert not buffer.healthy and buffer.restarts_total == 0  # cancelling is not dying
        assert buffer.ensure_running() is False
        assert buffer.healthy and buffer.restarts_total == 1
        await buffer.stop()
        assert not buffer.healthy and buffer.ensure_running()  # stopped on purpose: left alone

    run_async(scenario)


def test_stop_writes_what_is_pending(buffer, scim, engine):
    buffer.flush_seconds = 3600

    async def scenario() -> None:
        buffer.start()
        await asyncio.sleep(0)
        buffer.add(entry(scim.account_id, path="/pending"))
        await buffer.stop()

    run_async(scenario)
    assert [r["path"] for r in rows(engine)] == ["/pending"]


def test_the_app_writer_is_healthy_while_serving(app, make_account):
    buffer = app.state.request_log
    assert not buffer.healthy
    with TestClient(app) as client:
        client.get("/healthz")
        assert buffer.healthy and buffer.backlog == 0 and buffer.last_error is None
    assert not buffer.healthy


# ---- credentials ---------------------------------------------------------------------------


def _whole(credential: str) -> tuple[str, str]:
    """A credential sent and checked as a whole."""
    return credential, credential


# shape name -> (text as sent, the part that must not be logged)
CREDENTIALS = {
    "api key": _whole("sgk_" + secrets.token_urlsafe(32)),
    "provisioning token": _whole("sgp_" + secrets.token_urlsafe(32)),
    "setup link": _whole("sgs_" + secrets.token_urlsafe(32)),
    "webhook secret": _whole(new_secret() + "+/="),  # with every base64 sign
    "bearer credential": ("Bearer abc.DEF-ghi_jkl~mno", "abc.DEF-ghi_jkl~mno"),
}


def test_every_credential_shape_has_an_example():
    assert {name for name, _shape in redaction.CREDENTIAL_SHAPES} == set(CREDENTIALS)


def logged_text(row: dict[str, Any]) -> str:
    return " ".join(str(row[c]) for c in TEXT_COLUMNS)


@pytest.mark.parametrize("shape", CREDENTIALS)
def test_credentials_are_redacted_in_every_field(shape, buffer, scim, engine):
    sent, secret = CREDENTIALS[shape]
    assert redaction.redact_credentials(f"x {sent} y") != f"x {sent} y"
    buffer.add(
        entry(
            scim.account_id,
            path=f"/Users/{sent}",
            query=f"filter=userName%20eq%20%22{_encode(sent)}%22&plain={sent}",
            detail=f"No user {sent!r}",
            ignored=f'["{sent}"]',
            request_body=f'{{"userName": "{sent}", "{sent}": 1, "note": "has {sent} inside"}}',
            response_body=f"not json: {sent} and more".encode(),
        )
    )
    buffer.add(entry(scim.account_id, request_body=f'{{"cut": "{sent}'.encode()))
    assert buffer.flush() == 2
    for row in rows(engine):
        text = logged_text(row)
        assert secret not in text and _encode(secret) not in text
        assert redaction.REDACTED in text


def _encode(text: str) -> str:
    return quote(text, safe="")


@pytest.mark.parametrize("shape", CREDENTIALS)
def test_credentials_are_redacted_through_the_app(shape, scim, app, engine):
    sent, secret = CREDENTIALS[shape]
    scim.get("/Users", params={"filter": f'userName eq "{sent}"'})
    scim.get(f"/Users/{_encode(sent)}")
    scim.post("/Users", json=user_body(f"{sent}@example.com", nickName=sent))
    scim.post("/Users", content=f'{{"userName": "{sent}", oops'.encode())
    scim.patch("/Users/x", json={"Operations": [{"op": "add", "path": "title", "value": sent}]})
    assert app.state.request_log.flush() == 5
    for row in rows(engine):
        assert secret not in logged_text(row), row
    assert scim.token not in str(rows(engine))


SECRET_NAMES = [
    "password",
    "userPassword",
    "secret",
    "client_secret",
    "token",
    "access_token",
    "refreshToken",
    "api_key",
    "apiKey",
    "privateKey",
    "key",
    "Authorization",
]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_fields_are_redacted_wherever_they_appear(name):
    value = "Hunter9-" + secrets.token_hex(4)
    assert value not in redaction.redact_query(f"a=1&{name}={value}&b=2")
    assert value not in redaction.redact_query(f"next=%2Fx%3F{name}%3D{value}")
    assert value not in rl.redact_body(f'{{"{name}": "{value}", "userName": "u"}}')
    assert value not in rl.redact_body(f'{{"nested": [{{"{name}": {{"v": "{value}"}}}}]}}')
    assert value not in rl.redact_body(f'{{"userName": "u", "{name}": "{value}')  # cut JSON
    assert value not in rl.redact_body(f"user=u&{name}={value}")
    assert value not in rl.redact_body(f"{name}: {value}\n")
    assert value not in rl.redact_text(f"rejected {name}={value}")


def test_patch_of_a_password_is_redacted_and_ordinary_fields_are_kept():
    body = {
        "Operations": [
            {"op": "replace", "path": "password", "value": "p1-secret"},
            {"op": "replace", "path": "urn:x:User:password", "value": "p2-secret"},
            {"op": "replace", "path": "displayName", "value": "Barbara"},
        ],
        "userName": "bjensen",
        "emails": [{"value": "b@example.com"}],
    }
    text = rl.redact_body(orjson.dumps(body))
    assert "p1-secret" not in text and "p2-secret" not in text
    assert all(kept in text for kept in ("Barbara", "bjensen", "b@example.com", "displayName"))
    assert redaction.redact_query("filter=userName%20eq%20%22bjensen%22&count=10") == (
        "filter=userName%20eq%20%22bjensen%22&count=10"
    )


def test_two_lifespans_over_one_app_each_stop_their_own_writer(app):
    """Two TestClients over one app run two lifespans, each on an event loop of its own."""
    buffer = app.state.request_log
    with TestClient(app):
        with TestClient(app):
            assert buffer.healthy
        assert buffer.healthy and buffer.ensure_running()  # the outer writer still runs
    assert not buffer.healthy and buffer.restarts_total == 0

"""Deadlines: a held lock or a slow statement answers 503 to its own request, and stalls no one else."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from scimgate.store.database import RequestLimits, deadline, is_timeout, make_engine
from tests.helpers.databases import PG_URL
from tests.helpers.scim import user_body
from tests.helpers.serve import Serve

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SLOW_SQLITE = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000000) "
    "SELECT count(*) FROM n"
)


@pytest.fixture
def served(database_url: str, tmp_path: Any) -> Iterator[Serve]:
    srv = Serve(database_url, tmp_path)
    srv.env.update(SCIMGATE_WEBHOOKS="false", SCIMGATE_RATE_LIMITS="false")
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


def scim(srv: Serve, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://127.0.0.1:{srv.port}/scim/v2",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
        timeout=30,
        trust_env=False,
    )


@pytest.mark.skipif(PG_URL is not None, reason="SQLite's progress handler")
def test_sqlite_deadline_interrupts_a_running_statement(database_url: str) -> None:
    engine = make_engine(database_url, limits=RequestLimits())
    try:
        started = time.monotonic()
        with pytest.raises(OperationalError) as caught, deadline(0.2), engine.connect() as conn:
            conn.execute(text(SLOW_SQLITE))
        assert time.monotonic() - started < 2
        assert is_timeout(caught.value)
        with engine.connect() as conn:  # outside a deadline the same connection works on
            assert conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


@pytest.mark.skipif(PG_URL is None, reason="PostgreSQL's statement_timeout")
def test_postgres_statement_timeout_cancels_a_slow_statement(database_url: str) -> None:
    engine = make_engine(database_url, limits=RequestLimits(statement_timeout_ms=300))
    try:
        started = time.monotonic()
        with pytest.raises(OperationalError) as caught, engine.connect() as conn:
            conn.execute(text("SELECT pg_sleep(10)"))
        assert time.monotonic() - started < 3
        assert is_timeout(caught.value)
    finally:
        engine.dispose()


def hold_lock(database_url: str, engine: Engine, account_id: int) -> Callable[[], None]:
    """Take a lock that one account's writes need, from outside scimgate; returns the release."""
    if PG_URL:
        conn = engine.connect()
        trans = conn.begin()
        conn.execute(
            text("SELECT n FROM directory_count WHERE account_id = :a FOR UPDATE"),
            {"a": account_id},
        )

        def release_pg() -> None:
            trans.rollback()
            conn.close()

        return release_pg
    raw = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    raw.execute("BEGIN IMMEDIATE")  # SQLite has one write lock for the whole database
    return raw.close


@pytest.mark.slow
def test_a_held_lock_answers_503_in_time_and_stalls_no_one_else(
    served: Serve, database_url: str, engine: Engine, make_account: Any
) -> None:
    _, token_a, account_a = make_account("locked")
    _, token_b, _ = make_account("free")
    with scim(served, token_a) as a, scim(served, token_b) as b:
        assert a.post("/Users", json=user_body("first@a.example")).status_code == 201
        assert b.post("/Users", json=user_body("first@b.example")).status_code == 201
        release = hold_lock(database_url, engine, account_a)
        try:
            answers: dict[str, Any] = {}

            def write_a() -> None:
                started = time.monotonic()
                answers["a"] = a.post("/Users", json=user_body("second@a.example"))
                answers["a_seconds"] = time.monotonic() - started

            writer = threading.Thread(target=write_a)
            writer.start()
            time.sleep(0.3)  # A's write is now waiting for the lock
            for _ in range(5):  # meanwhile everyone else is answered at once
                started = time.monotonic()
                assert (
                    b.get("/Users", params={"filter": 'userName eq "first@b.example"'}).json()[
                        "totalResults"
                    ]
                    == 1
                )
                assert time.monotonic() - started < 1.0
            live = httpx.get(f"http://127.0.0.1:{served.port}/livez", timeout=2, trust_env=False)
            assert live.status_code == 200
            if PG_URL:  # row locks are per account on PostgreSQL: B still writes
                assert b.post("/Users", json=user_body("second@b.example")).status_code == 201
            writer.join(15)
            r = answers["a"]
            assert r.status_code == 503, r.text
            assert r.json()["schemas"] == [ERROR] and r.json()["status"] == "503"
            assert int(r.headers["Retry-After"]) >= 1
            assert answers["a_seconds"] < 6  # the lock timeout, not the lock holder, decides
        finally:
            release()
        assert a.post("/Users", json=user_body("third@a.example")).status_code == 201


@pytest.mark.slow
def test_an_oversize_body_gets_a_readable_413_while_the_client_is_still_sending(
    served: Serve,
) -> None:
    """No key, 8 MiB chunked to /api/v1: the 413 arrives, and sending on meets no reset."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/v1/members HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"z" * 64 * 1024)
        for _ in range(24):  # 1.5 MiB: over the limit
            sock.sendall(chunk)
        sock.settimeout(5)
        head = sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 413"), head[:200]
        assert b"application/problem+json" in head
        for _ in range(104):  # the rest of 8 MiB: read and thrown away by the server
            sock.sendall(chunk)
        sock.sendall(b"0\r\n\r\n")
        rest = b""
        while True:  # the server closes cleanly once the body is done
            data = sock.recv(65536)
            if not data:
                break
            rest += data
    assert served.proc is not None and served.proc.poll() is None


@pytest.mark.slow
@pytest.mark.process
def test_a_client_gone_mid_body_reaches_no_handler(served: Serve) -> None:
    """Half a body, then the connection closes: no handler sees half a body (no 400 for
    "invalid JSON" in the log for a client that is gone), nothing is logged as an error,
    and the server answers the next client as usual."""
    before = len(served.log())
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
        sock.sendall(
            b"POST /scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sgp_x\r\n"
            b"Content-Type: application/scim+json\r\nContent-Length: 1000\r\n\r\n" + b"{" * 100
        )
    time.sleep(0.3)
    live = httpx.get(f"http://127.0.0.1:{served.port}/livez", timeout=5, trust_env=False)
    assert live.status_code == 200
    log = served.log()[before:]
    assert "path=/scim/v2/Users" not in log and "Traceback" not in log, log

"""Liveness, readiness during an outage, one log line per outage, and /metrics."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from scimgate.settings import Settings
from scimgate.sync.engine import synchronize
from scimgate.web.app import create_app
from scimgate.web.console.endpoint import sign
from scimgate.web.outage import OutageLog
from tests.helpers.databases import PG_URL
from tests.helpers.scim import user_body

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def test_ready_and_live_when_all_is_well(http: TestClient) -> None:
    r = http.get("/readyz")
    assert r.status_code == 200
    assert r.json()["checks"] == {"database": "ok", "migrations": "ok", "request_log": "ok"}
    assert http.get("/healthz").json()["status"] == "ok"
    assert http.get("/livez").json()["status"] == "ok"
    for path in ("/livez", "/readyz", "/healthz"):  # load balancers probe with HEAD too
        head = http.head(path)
        assert head.status_code == 200 and head.content == b"", path


def test_not_ready_before_migrations(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/empty.db", scheduler=False)
    with TestClient(create_app(settings.model_copy(update={"webhooks": False}))) as client:
        r = client.get("/readyz")
        assert r.status_code == 503 and r.headers["Retry-After"] == "5"
        assert "scimgate migrate" in r.json()["checks"]["migrations"]
        assert client.head("/readyz").status_code == 503
        assert client.get("/livez").status_code == 200


def unreachable_url(tmp_path: Path) -> str:
    if PG_URL:
        return "postgresql+psycopg://postgres@127.0.0.1:1/nothing"  # nothing listens there
    return f"sqlite:///{tmp_path}/no/such/folder/scimgate.db"


def test_database_outage_is_503_with_retry_after_and_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        database_url=unreachable_url(tmp_path),
        scheduler=False,
        webhooks=False,
        rate_limits=False,
        metrics_allow_ips="testclient",
    )
    caplog.set_level(logging.INFO)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        for _ in range(20):
            r = client.get("/scim/v2/Users", headers={"Authorization": "Bearer sgp_whatever"})
            assert r.status_code == 503
            assert r.json()["schemas"] == [ERROR] and r.json()["status"] == "503"
            assert int(r.headers["Retry-After"]) >= 1
        api = client.get("/api/v1/members", headers={"Authorization": "Bearer sgk_whatever"})
        assert api.status_code == 503 and api.headers["Retry-After"]
        client.cookies.set("scimgate_session", sign("some-session", settings.secret_key))
        page = client.get("/console/provisioning", follow_redirects=False)
        assert page.status_code == 503 and page.headers["Retry-After"] == "5"
        assert "not answering" in page.text
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.headers["Retry-After"] == "5"
        assert ready.json()["checks"]["database"].startswith("unavailable")
        assert client.get("/livez").status_code == 200
        metrics = client.get("/metrics").text
    outage_lines = [r for r in caplog.records if r.name == "scimgate.database"]
    assert len(outage_lines) == 1, [r.getMessage() for r in outage_lines]
    tracebacks = Counter(r.name for r in caplog.records if r.exc_info)
    # No traceback per request on any surface; a background writer may log its one.
    assert not {"scimgate.access", "scimgate.console", "scimgate.api"} & set(tracebacks)
    assert all(count == 1 for count in tracebacks.values()), tracebacks
    assert 'scimgate_http_requests_total{status="503",surface="scim"} 20.0' in metrics
    assert 'scimgate_database_errors_total{kind="unavailable"}' in metrics
    assert "scimgate_database_up 0.0" in metrics


def test_outage_log_says_when_it_ends(caplog: pytest.LogCaptureFixture) -> None:
    outage = OutageLog()
    caplog.set_level(logging.INFO, logger="scimgate.database")
    for _ in range(3):
        outage.failed(RuntimeError("connection refused"))
    assert outage.down and outage.failed_requests == 3
    outage.succeeded()
    outage.succeeded()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and "3 requests failed" in messages[1]
    assert not outage.down


@pytest.fixture
def metrics_client(settings: Settings, engine: Engine) -> Any:
    allowed = settings.model_copy(update={"metrics_allow_ips": "testclient", "rate_limits": True})
    with TestClient(create_app(allowed, engine=engine), raise_server_exceptions=False) as client:
        yield client


def test_metrics_count_requests_accounts_limits_and_sync_runs(
    metrics_client: TestClient, make_account: Any, engine: Engine
) -> None:
    _, token, account_id = make_account("metered")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    assert (
        metrics_client.post("/scim/v2/Users", json=user_body("m@x.example"), headers=headers)
    ).status_code == 201
    for _ in range(3):
        metrics_client.get("/scim/v2/Users", headers=headers)
    synchronize(engine, account_id)
    text = metrics_client.get("/metrics").text
    assert 'scimgate_http_requests_total{status="201",surface="scim"} 1.0' in text
    assert 'scimgate_http_requests_total{status="200",surface="scim"} 3.0' in text
    assert (
        f'scimgate_account_requests_total{{account_id="{account_id}",surface="scim"}} 4.0' in text
    )
    assert 'scimgate_http_request_duration_seconds_bucket{le="0.5",surface="scim"}' in text
    assert "scimgate_sync_runs_total" in text and 'status="succeeded"' in text
    assert "scimgate_sync_run_duration_seconds_count 1.0" in text
    for name in (
        "scimgate_webhook_backlog_events 0.0",
        "scimgate_webhook_lag_seconds 0.0",
        "scimgate_request_log_backlog",
        "scimgate_database_up 1.0",
    ):
        assert name in text


def test_metrics_count_rate_limited_requests(settings: Settings, engine: Engine) -> None:
    tight = settings.model_copy(
        update={
            "metrics_allow_ips": "testclient",
            "rate_limits": True,
            "scim_rate_per_second": 1,
            "scim_rate_burst": 1,
        }
    )
    with TestClient(create_app(tight, engine=engine)) as client:
        for _ in range(3):
            client.get("/scim/v2/Users", headers={"Authorization": "Bearer sgp_nope"})
        text = client.get("/metrics").text
    assert 'scimgate_rate_limited_requests_total{limit="token",surface="scim"} 2.0' in text


def test_metrics_are_not_for_strangers(
    http: TestClient, settings: Settings, engine: Engine
) -> None:
    assert http.get("/metrics").status_code == 404  # TestClient is not loopback
    with_token = settings.model_copy(update={"metrics_token": "s3cret-metrics"})
    with TestClient(create_app(with_token, engine=engine)) as client:
        assert client.get("/metrics").status_code == 404
        r = client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"})
        assert r.status_code == 200 and "scimgate_http_requests_total" in r.text


def test_a_dead_request_log_writer_is_restarted_and_reported(app: Any) -> None:
    with TestClient(app) as client:
        buffer = app.state.request_log
        client.portal.call(buffer.writer.cancel)  # as if it had died
        client.portal.call(asyncio.sleep, 0.05)
        r = client.get("/readyz")
        assert r.status_code == 200 and r.json()["checks"]["request_log"] == "ok"
        assert buffer.restarts_total == 1 and buffer.healthy

"""Body limits before auth on every surface, rate limits, filter budget, odd verbs, headers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from scimgate.accounts import service as accounts
from scimgate.scim.filter import parse_filter
from scimgate.scim.filter_cost import filter_cost
from scimgate.settings import Settings
from scimgate.web.app import create_app
from scimgate.web.db_threads import AccountBusyError, RequestThreads
from scimgate.web.rate_limits import RateLimiter, SurfaceLimits
from tests.helpers.api import issue_key
from tests.helpers.loops import run_async
from tests.helpers.scim import user_body

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def assert_scim_error(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/scim+json")
    body = r.json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status)
    return body


@pytest.fixture
def limited(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """An app with small rate limits: 5 requests of burst, 5 a second after that."""
    tight = settings.model_copy(
        update={
            "rate_limits": True,
            "scim_rate_per_second": 5,
            "scim_rate_burst": 5,
            "api_rate_per_second": 5,
            "api_rate_burst": 5,
        }
    )
    with TestClient(create_app(tight, engine=engine), raise_server_exceptions=False) as client:
        yield client


def new_account(engine: Engine, slug: str) -> tuple[int, str]:
    with engine.begin() as conn:
        row = accounts.create_account(conn, slug, entitled=True)
        return row["id"], accounts.activate_provisioning(conn, row["id"]).token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}


# -- body limits: before auth, in each surface's shape ----------------------------------------


def test_oversize_scim_body_is_413_before_the_token_is_checked(http: TestClient) -> None:
    r = http.post("/scim/v2/Users", content=b"{" + b" " * (2 * 1024 * 1024) + b"}")
    body = assert_scim_error(r, 413)
    assert "1048576" in body["detail"]


def test_an_unreadable_content_length_is_no_500(http: TestClient) -> None:
    """5000 digits pass `isdigit()` and int() refuses them: the body is counted instead."""
    r = http.post("/scim/v2/Users", content=b"{}", headers={"Content-Length": "1" * 5000})
    assert r.status_code == 401, r.text


def test_oversize_api_body_is_a_problem_before_the_key_is_checked(http: TestClient) -> None:
    r = http.post("/api/v1/members", content=b"x" * (2 * 1024 * 1024))
    assert r.status_code == 413
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 413


def test_streamed_api_body_is_cut_at_the_limit(http: TestClient) -> None:
    """No Content-Length (chunked): counted while it streams, never held whole."""
    sent = {"bytes": 0}

    def chunks() -> Iterator[bytes]:
        for _ in range(8):  # 8 MiB offered
            sent["bytes"] += 1024 * 1024
            yield b"y" * (1024 * 1024)

    r = http.post("/api/v1/members", content=chunks())
    assert r.status_code == 413
    assert r.json()["title"] == "Payload Too Large"


def test_oversize_console_form_is_a_page(http: TestClient) -> None:
    r = http.post(
        "/console/login",
        content=b"a=" + b"b" * (100 * 1024),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("text/html")


def test_bodies_under_the_limit_still_reach_the_handlers(scim: Any) -> None:
    r = scim.post("/Users", json=user_body("fits@example.com", title="t" * 60_000))
    assert r.status_code == 201, r.text


# -- rate limits ---------------------------------------------------------------------------------


def test_scim_token_rate_limit_answers_429_with_retry_after(
    limited: TestClient, engine: Engine
) -> None:
    _, token = new_account(engine, "fast")
    _, other = new_account(engine, "calm")
    statuses = [limited.get("/scim/v2/Users", headers=bearer(token)).status_code for _ in range(8)]
    assert statuses[:5] == [200] * 5 and 429 in statuses[5:]
    r = limited.get("/scim/v2/Users", headers=bearer(token))
    body = assert_scim_error(r, 429)
    assert int(r.headers["Retry-After"]) >= 1
    assert "token" in body["detail"]
    # Another account is not slowed down by the first one's flood.
    assert limited.get("/scim/v2/Users", headers=bearer(other)).status_code == 200


def test_scim_account_limit_covers_every_token_of_the_account(
    limited: TestClient, engine: Engine
) -> None:
    account_id, first = new_account(engine, "twotokens")
    with engine.begin() as conn:
        second = accounts.issue_token(conn, account_id).token
    statuses = [
        limited.get("/scim/v2/Users", headers=bearer(token)).status_code
        for token in [first, second] * 4
    ]
    assert statuses[:5] == [200] * 5
    r = limited.get("/scim/v2/Users", headers=bearer(second))
    assert "account" in assert_scim_error(r, 429)["detail"]


def test_refused_tokens_from_one_address_are_slowed_down_without_the_database(
    limited: TestClient, engine: Engine
) -> None:
    _, good = new_account(engine, "good")
    assert limited.get("/scim/v2/Users", headers=bearer(good)).status_code == 200
    statuses = [
        limited.get("/scim/v2/Users", headers=bearer(f"sgp_guess{i}")).status_code
        for i in range(15)
    ]
    assert statuses[:10] == [401] * 10 and statuses[-1] == 429
    # A token that worked from this address (an IdP's addresses are shared) still works.
    assert limited.get("/scim/v2/Users", headers=bearer(good)).status_code == 200


def test_api_key_rate_limit_answers_problem_429(limited: TestClient, engine: Engine) -> None:
    new_account(engine, "apiacct")
    _, key = issue_key(engine, "apiacct")
    headers = {"Authorization": f"Bearer {key}"}
    statuses = [limited.get("/api/v1/members", headers=headers).status_code for _ in range(8)]
    assert statuses[:5] == [200] * 5 and statuses[-1] == 429
    r = limited.get("/api/v1/members", headers=headers)
    assert r.status_code == 429 and r.headers["content-type"] == "application/problem+json"
    assert int(r.headers["Retry-After"]) >= 1 and r.json()["status"] == 429


def test_rate_limiter_refills_and_shares_out_over_workers() -> None:
    limiter = RateLimiter(10, 10, workers=2)  # each of 2 workers: 5 a second, burst 5
    assert [limiter.take("k", now=0.0) for _ in range(6)][-1] == pytest.approx(0.2)
    assert limiter.take("k", now=1.0) == 0.0  # a second later: 5 more
    assert limiter.take("other", now=1.0) == 0.0


def test_a_cost_above_the_burst_is_never_charged_the_burst() -> None:
    """Charged the burst, a Bulk of 1,000 paid 500 with --workers 4: now it cannot be paid,
    and the largest cost is what a Bulk is held to (maxOperations)."""
    limits = SurfaceLimits(200, 2000, workers=4, enabled=True)
    assert limits.largest_cost() == 500
    with pytest.raises(ValueError, match="never be paid"):
        limits.check_account(1, cost=1000)
    assert limits.check_account(1, cost=500) == 0.0
    assert SurfaceLimits(200, 2000, workers=3, enabled=True).largest_cost() == 666
    assert SurfaceLimits(200, 2000, workers=1, enabled=False).largest_cost() is None


def test_one_account_cannot_hold_every_request_thread(settings: Settings, engine: Engine) -> None:
    """Two slow requests of account 1 hold its share; its third waits and gives up, while
    account 2 is served at once from the threads account 1 may not take."""
    threads = RequestThreads(
        engine, settings.model_copy(update={"account_concurrency": 2, "db_queue_seconds": 0.5})
    )
    gate = threading.Event()

    def slow(_kept: Any) -> str:
        gate.wait(5)
        return "slow"

    async def scenario() -> list[Any]:
        first = asyncio.ensure_future(threads.run(slow, share=1))
        second = asyncio.ensure_future(threads.run(slow, share=1))
        await asyncio.sleep(0.05)
        third = asyncio.ensure_future(threads.run(lambda _k: "third", share=1))
        other = await threads.run(lambda _k: "other", share=2)
        outcome = await asyncio.gather(third, return_exceptions=True)
        gate.set()
        return [other, outcome[0], await first, await second]

    try:
        other, third, first, second = run_async(scenario)
        assert other == "other" and isinstance(third, AccountBusyError)
        assert first == second == "slow"
        assert threads.busy() == 0
    finally:
        gate.set()
        threads.close()


# -- filter budget -------------------------------------------------------------------------------


def test_expensive_filter_is_refused_with_a_clear_error(scim: Any) -> None:
    terms = " or ".join(f'userName co "x{i}"' for i in range(150))
    body = assert_scim_error(scim.get("/Users", params={"filter": terms}), 400)
    assert body["scimType"] == "invalidFilter" and "too expensive" in body["detail"]
    r = scim.post(
        "/Users/.search",
        json={"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": terms},
    )
    assert assert_scim_error(r, 400)["scimType"] == "invalidFilter"


def test_ordinary_filters_fit_the_budget(scim: Any) -> None:
    ids = " or ".join(f'externalId eq "e{i}"' for i in range(50))
    assert scim.get("/Users", params={"filter": ids}).status_code == 200
    assert filter_cost(parse_filter('userName co "a" and emails[type eq "work"]')) == 12


# -- odd verbs and headers -----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "CONNECT", "MKCOL"])
def test_odd_verbs_get_a_scim_error_after_the_token_check(scim: Any, method: str) -> None:
    assert_scim_error(scim.http.request(method, "/scim/v2/Users"), 401)
    assert_scim_error(scim.request(method, "/Users"), 405)
    assert_scim_error(scim.request(method, "/Nowhere"), 404)


@pytest.mark.parametrize(
    "path", ["/scim/v2/Users", "/api/v1/members", "/console/login", "/livez", "/nowhere"]
)
def test_nosniff_on_every_surface(http: TestClient, path: str) -> None:
    assert http.get(path).headers["x-content-type-options"] == "nosniff"


def test_a_revoked_token_loses_its_exemption_from_the_refused_limit(
    limited: TestClient, engine: Engine
) -> None:
    account_id, token = new_account(engine, "revoked")
    assert limited.get("/scim/v2/Users", headers=bearer(token)).status_code == 200
    with engine.begin() as conn:
        accounts.deactivate_provisioning(conn, account_id)  # every token of the account stops
    statuses = [limited.get("/scim/v2/Users", headers=bearer(token)).status_code for _ in range(12)]
    assert statuses[0] == 401 and statuses[-1] == 429  # revocation took effect at once

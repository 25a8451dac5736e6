"""SCIM Bulk limits: maxOperations (the setting, and the rate-limit burst of one worker),
maxPayloadSize, each operation's data against the single request's body limit, and the
rate-limit charge (one per operation read, all or nothing)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from scimgate.settings import Settings
from scimgate.web.app import create_app
from tests.helpers.bulk import assert_scim_error, bulk, post, run
from tests.helpers.scim import ScimClient, user_body


def test_service_provider_config_advertises_bulk(scim):
    spc = scim.get("/ServiceProviderConfig").json()
    assert spc["bulk"] == {"supported": True, "maxOperations": 1000, "maxPayloadSize": 1048576}


@pytest.fixture
def small(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """An app with small Bulk limits: 3 operations, 4 KiB."""
    tight = settings.model_copy(update={"bulk_max_operations": 3, "bulk_max_payload_bytes": 4096})
    with TestClient(create_app(tight, engine=engine), raise_server_exceptions=False) as client:
        yield client


def test_over_max_operations_is_413(small, make_account):
    _slug, token, _ = make_account()
    scim = ScimClient(http=small, token=token, slug="s", account_id=0)
    assert scim.get("/ServiceProviderConfig").json()["bulk"]["maxOperations"] == 3
    body = bulk(*[post("Users", f"u{i}", user_body(f"u{i}@x.com")) for i in range(4)])
    error = assert_scim_error(scim.post("/Bulk", json=body), 413)
    assert "maxOperations is 3" in error["detail"]
    assert scim.get("/Users").json()["totalResults"] == 0
    body["Operations"].pop()
    assert [r["status"] for r in run(scim, body)] == ["201"] * 3


def test_over_max_payload_is_413_before_the_token_is_checked(small):
    r = small.post("/scim/v2/Bulk", content=b"{" + b" " * 5000 + b"}")
    assert_scim_error(r, 413)
    r = small.post("/scim/v2/bulk", content=b"{" + b" " * 5000 + b"}")  # the route's any case
    assert_scim_error(r, 413)
    # The Bulk limit is the Bulk's: other routes keep max_body_bytes (1 MiB).
    assert small.post("/scim/v2/Users", content=b"{" + b" " * 5000 + b"}").status_code == 401


def test_a_bulk_limit_above_the_body_limit_lets_bulks_through(settings, engine, make_account):
    wide = settings.model_copy(update={"max_body_bytes": 2048, "bulk_max_payload_bytes": 65536})
    with TestClient(create_app(wide, engine=engine), raise_server_exceptions=False) as client:
        _slug, token, _ = make_account()
        scim = ScimClient(http=client, token=token, slug="w", account_id=0)
        body = bulk(*[post("Users", f"u{i}", user_body(f"u{i}@x.com")) for i in range(8)])
        assert [r["status"] for r in run(scim, body)] == ["201"] * 8


@pytest.fixture
def limited(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """Rate limits on: a burst of 10, one every 10 seconds after that."""
    tight = settings.model_copy(
        update={"rate_limits": True, "scim_rate_per_second": 0.1, "scim_rate_burst": 10}
    )
    with TestClient(create_app(tight, engine=engine), raise_server_exceptions=False) as client:
        yield client


def test_a_bulk_costs_its_operations_and_is_refused_whole(limited, make_account):
    _slug, token, _ = make_account()
    scim = ScimClient(http=limited, token=token, slug="r", account_id=0)
    seven = bulk(*[post("Users", f"u{i}", user_body(f"u{i}@x.com")) for i in range(7)])
    assert [r["status"] for r in run(scim, seven)] == ["201"] * 7  # 3 of 10 left
    four = bulk(*[post("Users", f"v{i}", user_body(f"v{i}@x.com")) for i in range(4)])
    r = scim.post("/Bulk", json=four)
    error = assert_scim_error(r, 429)
    assert "counts as 4 requests" in error["detail"]
    assert int(r.headers["Retry-After"]) >= 5  # one token short, at one per 10 s
    assert scim.get("/Users").json()["totalResults"] == 7  # nothing of it ran
    # The three left pay for single requests (the first of them just above).
    assert [scim.get("/Users").status_code for _ in range(3)] == [200, 200, 429]


def test_duplicate_operations_keys_cannot_run_nine_for_the_price_of_one(limited, make_account):
    _slug, token, _ = make_account()
    scim = ScimClient(http=limited, token=token, slug="d", account_id=0)
    nine = [post("Users", f"u{i}", user_body(f"u{i}@x.com")) for i in range(9)]
    body = {"Operations": [post("Users", "one", user_body("one@x.com"))], "operations": nine}
    assert_scim_error(scim.post("/Bulk", json=body), 400, "invalidSyntax")
    # Refused before it ran, charged one request: nine of ten left.
    assert [scim.get("/Users").status_code for _ in range(10)] == [200] * 9 + [429]
    assert scim.get("/Users").status_code == 429


def test_a_bulk_above_the_burst_is_413_and_costs_one(limited, make_account):
    """A Bulk the bucket could never pay is refused up front, not charged the burst."""
    _slug, token, _ = make_account()
    scim = ScimClient(http=limited, token=token, slug="b", account_id=0)
    assert scim.get("/ServiceProviderConfig").json()["bulk"]["maxOperations"] == 10
    eleven = bulk(*[post("Users", f"u{i}", user_body(f"u{i}@x.com")) for i in range(11)])
    error = assert_scim_error(scim.post("/Bulk", json=eleven), 413)
    assert "maxOperations is 10" in error["detail"]
    ten = bulk(*eleven["Operations"][:10])
    r = scim.post("/Bulk", json=ten)
    assert_scim_error(r, 429)  # two requests paid (the GET and the 413): ten do not fit yet
    assert scim.get("/Users").status_code == 200
    assert scim.get("/Users").json()["totalResults"] == 0  # the 413 ran nothing


def test_max_operations_is_the_burst_of_one_worker(settings, engine, make_account):
    """With --workers 4 each worker holds a quarter of the burst: a Bulk of the whole burst
    would have paid a quarter of its operations."""
    four = settings.model_copy(
        update={
            "rate_limits": True,
            "workers": 4,
            "scim_rate_per_second": 0.1,
            "scim_rate_burst": 40,
        }
    )
    with TestClient(create_app(four, engine=engine), raise_server_exceptions=False) as client:
        _slug, token, _ = make_account()
        scim = ScimClient(http=client, token=token, slug="w", account_id=0)
        assert scim.get("/ServiceProviderConfig").json()["bulk"]["maxOperations"] == 10
        twenty = bulk(*[post("Users", f"u{i}", user_body(f"u{i}@x.com")) for i in range(20)])
        assert (
            "maxOperations is 10"
            in assert_scim_error(scim.post("/Bulk", json=twenty), 413)["detail"]
        )
        eight = bulk(*twenty["Operations"][:8])
        assert [r["status"] for r in run(scim, eight)] == ["201"] * 8  # 10 - GET - 413 = 8
        assert scim.get("/Users").status_code == 429


def test_max_operations_is_the_setting_when_the_burst_is_larger(settings, engine, make_account):
    roomy = settings.model_copy(update={"rate_limits": True, "bulk_max_operations": 7})
    with TestClient(create_app(roomy, engine=engine), raise_server_exceptions=False) as client:
        _slug, token, _ = make_account()
        scim = ScimClient(http=client, token=token, slug="s", account_id=0)
        assert scim.get("/ServiceProviderConfig").json()["bulk"]["maxOperations"] == 7


def test_an_operation_over_the_single_request_body_limit_is_413_in_its_slot(
    settings, engine, make_account
):
    """A Bulk may be larger than a single request, but none of its operations may."""
    wide = settings.model_copy(update={"max_body_bytes": 2048, "bulk_max_payload_bytes": 65536})
    with TestClient(create_app(wide, engine=engine), raise_server_exceptions=False) as client:
        _slug, token, _ = make_account()
        scim = ScimClient(http=client, token=token, slug="w", account_id=0)
        assert scim.post("/Users", json=user_body(displayName="x" * 3000)).status_code == 413
        big = post("Users", "big", user_body("big@x.com", displayName="x" * 3000))
        results = run(scim, bulk(big, post("Users", "ok", user_body("ok@x.com"))))
        assert [r["status"] for r in results] == ["413", "201"]
        assert results[0]["response"]["status"] == "413"
        assert "2048 bytes" in results[0]["response"]["detail"]
        assert scim.get("/Users").json()["totalResults"] == 1

"""Regressions: defects found while testing webhooks (malformed URLs, retries across
processes, an endpoint removed mid-delivery, a receiver trickling its answer)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from scimgate.errors import InvalidValueError
from scimgate.store import webhooks as webhook_store
from scimgate.store.database import utcnow
from scimgate.webhooks import service as webhooks
from scimgate.webhooks.delivery import send
from tests.helpers.webhooks import add_endpoint, add_members, all_events, delivery_log


@pytest.mark.parametrize(
    "url", ["http://8.8.8.8:99999/hook", "http://8.8.8.8:http/hook", "http://[::1/hook"]
)
def test_a_malformed_port_or_host_is_an_invalid_value(scim, engine, url):
    with pytest.raises(InvalidValueError):
        add_endpoint(engine, scim.slug, url, allow_private=True)


def test_console_answers_a_malformed_webhook_url_with_the_form(make_console):
    console = make_console()
    r = console.post(
        "/integrations/webhooks", {"url": "https://8.8.8.8:99999/hook"}, page="/integrations"
    )
    assert r.status_code in (200, 400), r.status_code


def _tick_in_thread(deliverer):
    """Run deliverer.tick() on a thread; (thread, result dict with 'made' or 'error')."""
    result: dict = {}

    def run() -> None:
        try:
            result["made"] = deliverer.tick()
        except Exception as exc:  # noqa: BLE001 (kept for the test to look at)
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def test_a_retry_waits_its_back_off_across_processes(
    scim, engine, receiver, make_deliverer, wh_settings
):
    slow = add_endpoint(engine, scim.slug, receiver.url("/slow"))
    bad = add_endpoint(engine, scim.slug, receiver.url("/bad"))
    with engine.begin() as conn:  # /slow comes first in the due list
        webhook_store.set_endpoint(conn, slow["id"], next_attempt_at=utcnow() - timedelta(1))
    add_members(engine, scim.account_id, "m", 1)
    receiver.hold("/slow")
    receiver.always_fail("/bad", "500")
    slow_retries = wh_settings.model_copy(update={"webhook_retry_seconds": [60.0, 60.0]})
    first = make_deliverer("process-a", settings=slow_retries)
    second = make_deliverer("process-b", settings=slow_retries)
    # Process A reads the due list [/slow, /bad] and is busy delivering to /slow...
    thread, result = _tick_in_thread(first)
    receiver.wait(lambda: any(r.path == "/slow" for r in receiver.requests))
    # ...while process B fails /bad: its next attempt is in 60 s.
    assert second.tick() == 1
    assert len(receiver.on("/bad")) == 1
    receiver.release("/slow")
    thread.join(15)
    assert "error" not in result, result
    # Process A must not try /bad again now.
    assert len(receiver.on("/bad")) == 1, [
        d["attempt"] for d in delivery_log(engine, scim.slug, bad["id"])
    ]


def test_removing_an_endpoint_during_its_delivery(scim, engine, receiver, make_deliverer):
    gone = add_endpoint(engine, scim.slug, receiver.url("/gone"))
    add_endpoint(engine, scim.slug, receiver.url("/other"))
    with engine.begin() as conn:
        webhook_store.set_endpoint(conn, gone["id"], next_attempt_at=utcnow() - timedelta(1))
    add_members(engine, scim.account_id, "m", 1)
    receiver.hold("/gone")
    thread, result = _tick_in_thread(make_deliverer())
    receiver.wait(lambda: any(r.path == "/gone" for r in receiver.requests))
    with engine.begin() as conn:
        webhooks.remove_endpoint(conn, scim.account_id, gone["id"])
    receiver.release("/gone")
    thread.join(15)
    assert "error" not in result, repr(result.get("error"))[:300]
    assert [r.doc["type"] for r in receiver.ok("/other")] == ["member.created"]


def test_the_timeout_bounds_a_whole_delivery(scim, engine, receiver):
    add_members(engine, scim.account_id, "m", 1)
    event = all_events(engine, scim.account_id)[-1]  # after the account's audit events
    receiver.trickle("/t", 0.03)  # about 1.7 s for the whole answer, no pause over 0.03 s
    started = time.monotonic()
    outcome = send(
        receiver.url("/t"),
        webhooks.new_secret(),
        event,
        scim.slug,
        allow_private=True,
        timeout=0.5,
    )
    took = time.monotonic() - started
    assert took < 1.0 and not outcome.ok, (took, outcome)

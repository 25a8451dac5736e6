"""Webhook endpoints: add (URL checked against private addresses), list, remove, resume."""

from __future__ import annotations

import base64
import ipaddress
import secrets
import socket
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection

from scimgate.errors import InvalidValueError, NotFoundError
from scimgate.store import accounts as account_store
from scimgate.store import events as event_store
from scimgate.store import webhooks as store
from scimgate.store.database import utcnow

EVENT_TYPES = (
    "member.created",
    "member.updated",
    "member.deactivated",
    "member.reactivated",
    "team.created",
    "team.renamed",
    "team.removed",
    "team.member_added",
    "team.member_removed",
)
MAX_ENDPOINTS = 20


def new_secret() -> str:
    """A Standard Webhooks secret: whsec_ + base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def check_url(url: str, *, allow_private: bool) -> str:
    """An http(s) URL whose host resolves only to public addresses (unless allowed)."""
    url = (url or "").strip()
    if len(url) > 2048:
        raise InvalidValueError("A webhook URL is at most 2048 characters")
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port  # .port raises on a malformed port
    except ValueError:
        raise InvalidValueError(f"{url!r} is not a valid URL (check the host and port)") from None
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidValueError(f"{url!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise InvalidValueError("A webhook URL cannot carry a user name or password")
    refuse_private(
        host, port or (443 if parts.scheme == "https" else 80), allow_private=allow_private
    )
    return url


def refuse_private(host: str, port: int, *, allow_private: bool) -> None:
    """Refuse a host that resolves to a loopback, private, link-local or reserved address."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, ValueError):
        raise InvalidValueError(f"The host {host!r} cannot be resolved") from None
    if allow_private:
        return
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global:
            raise InvalidValueError(
                f"{host!r} resolves to {address}, a private or local address: refused "
                "(an operator can allow it with SCIMGATE_WEBHOOKS_ALLOW_PRIVATE=true)"
            )


def add_endpoint(
    conn: Connection,
    slug: str,
    url: str,
    *,
    event_types: list[str] | None = None,
    allow_private: bool = False,
) -> dict[str, Any]:
    """A new endpoint: it receives events written from now on. Returns id and secret."""
    account = account_store.get_account(conn, slug)
    types = sorted(set(event_types or []))
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        raise InvalidValueError(
            f"Unknown event type {unknown[0]!r}: use one of {', '.join(EVENT_TYPES)}"
        )
    url = check_url(url, allow_private=allow_private)
    if store.count_endpoints(conn, account["id"]) >= MAX_ENDPOINTS:
        raise InvalidValueError(f"An account has at most {MAX_ENDPOINTS} webhook endpoints")
    secret = new_secret()
    endpoint_id = store.insert_endpoint(
        conn,
        account["id"],
        url=url,
        secret=secret,
        event_types=types,
        cursor=event_store.last_seq(conn, account["id"]),
        now=utcnow(),
    )
    return {"id": endpoint_id, "secret": secret, "url": url, "event_types": types}


def list_endpoints(conn: Connection, slug: str) -> list[dict[str, Any]]:
    """An account's endpoints with their state (no secrets)."""
    return store.list_endpoints(conn, account_store.get_account(conn, slug)["id"])


def remove_endpoint(conn: Connection, slug: str, endpoint_id: int) -> None:
    """Stop delivering to an endpoint and forget it."""
    account = account_store.get_account(conn, slug)
    if not store.delete_endpoint(conn, account["id"], endpoint_id):
        raise NotFoundError(f"No webhook endpoint {endpoint_id} in account {slug!r}")


def resume(conn: Connection, slug: str, endpoint_id: int) -> None:
    """Retry a failing endpoint now, from the event it is stuck on."""
    account = account_store.get_account(conn, slug)
    if store.get_endpoint(conn, account["id"], endpoint_id) is None:
        raise NotFoundError(f"No webhook endpoint {endpoint_id} in account {slug!r}")
    store.set_endpoint(
        conn,
        endpoint_id,
        status="active",
        attempts=0,
        first_failure_at=None,
        next_attempt_at=utcnow(),
    )


def deliveries(
    conn: Connection, slug: str, endpoint_id: int, *, limit: int = 50
) -> list[dict[str, Any]]:
    """The delivery log of one endpoint, newest first."""
    account = account_store.get_account(conn, slug)
    if store.get_endpoint(conn, account["id"], endpoint_id) is None:
        raise NotFoundError(f"No webhook endpoint {endpoint_id} in account {slug!r}")
    return store.list_deliveries(conn, account["id"], endpoint_id, limit=limit)

"""Webhook endpoints: add (URL checked against private addresses), list, remove, resume."""

from __future__ import annotations

import base64
import ipaddress
import secrets
import socket
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection

from scimgate import audit, events
from scimgate.audit.actions import AuditAction
from scimgate.errors import InvalidValueError, NotFoundError
from scimgate.store import accounts as account_store
from scimgate.store import events as event_store
from scimgate.store import webhooks as store
from scimgate.store.database import utcnow

# The shells' names for the types an endpoint may name (events owns them).
EVENT_TYPES = events.EVENT_TYPES
MAX_ENDPOINTS = 20


class EndpointStatus(StrEnum):
    """Whether an endpoint is delivered to; a failing one waits for a resume (as stored)."""

    ACTIVE = "active"
    FAILING = "failing"


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


# IPv6 ranges that carry an IPv4 address in their last 32 bits: the IPv4 address decides.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix
_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated IPv4-compatible (::a.b.c.d)
_TRANSLATED = ipaddress.ip_network("::ffff:0:0/96")  # SIIT IPv4-translated (::ffff:0:a.b.c.d)
# Refused whatever they carry: local-use NAT64 (RFC 8215; where the IPv4 address sits
# depends on the operator's prefix length) and Teredo (a tunnel to a NAT'd client).
_ALWAYS_REFUSED = (ipaddress.ip_network("64:ff9b:1::/48"), ipaddress.ip_network("2001::/32"))

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public(address: str | Address) -> bool:
    """Whether a webhook may connect to this address: globally routable, not multicast,
    unspecified or reserved, and for the IPv6 forms that embed an IPv4 address (mapped,
    compatible, translated, 6to4, NAT64) the IPv4 address is public too."""
    if isinstance(address, str):
        address = ipaddress.ip_address(address.split("%")[0])
    if any(address in network for network in _ALWAYS_REFUSED):
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return False  # fec0::/10: deprecated, yet `ipaddress` calls it global
    address = _embedded_ipv4(address) or address
    return address.is_global and not (
        address.is_multicast or address.is_unspecified or address.is_reserved
    )


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (where a translator or tunnel sends it)."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in network for network in (_NAT64, _COMPATIBLE, _TRANSLATED)):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def refuse_private(host: str, port: int, *, allow_private: bool) -> list[str]:
    """Resolve the host once and refuse it if any address is not public (unless allowed).
    Returns the checked addresses: delivery connects to those, never resolving again, so
    a name cannot rebind to a private address between the check and the connection."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, ValueError):
        raise InvalidValueError(f"The host {host!r} cannot be resolved") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not allow_private:
        for address in addresses:
            if not is_public(address):
                raise InvalidValueError(
                    f"{host!r} resolves to {address}, a private or local address: refused "
                    "(an operator can allow it with SCIMGATE_WEBHOOKS_ALLOW_PRIVATE=true)"
                )
    return addresses


def _origin(url: str) -> str:
    """What the audit log keeps of a webhook URL: scheme and host (a path or query may
    carry the receiver's own secret, as Slack's hook URLs do)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _record(
    conn: Connection,
    account: dict[str, Any],
    actor: str | None,
    action: str,
    endpoint: dict[str, Any],
) -> None:
    audit.record(
        conn,
        account["id"],
        actor=actor,
        action=action,
        target=f"webhook {endpoint['id']} ({_origin(endpoint['url'])})",
        details={
            "endpoint_id": endpoint["id"],
            "origin": _origin(endpoint["url"]),
            "event_types": list(endpoint["event_types"] or []),
        },
    )


def add_endpoint(
    conn: Connection,
    account_id: int,
    url: str,
    *,
    event_types: list[str] | None = None,
    allow_private: bool = False,
    actor: str | None = None,
) -> dict[str, Any]:
    """A new endpoint: it receives events written from now on. Returns id and secret.

    `actor` (here and below) is who the audit log names: see scimgate.audit.
    """
    account = account_store.get_account_by_id(conn, account_id)
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
    added = {"id": endpoint_id, "url": url, "event_types": types}
    _record(conn, account, actor, AuditAction.WEBHOOK_ADDED, added)
    # Its own addition is not news to it: it starts after that audit event too.
    store.set_endpoint(conn, endpoint_id, cursor=event_store.last_seq(conn, account["id"]))
    return {**added, "secret": secret}


def list_endpoints(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    """An account's endpoints with their state (no secrets)."""
    return store.list_endpoints(conn, account_id)


def remove_endpoint(
    conn: Connection, account_id: int, endpoint_id: int, *, actor: str | None = None
) -> None:
    """Stop delivering to an endpoint and forget it."""
    account = account_store.get_account_by_id(conn, account_id)
    found = store.get_endpoint(conn, account["id"], endpoint_id)
    if found is None or not store.delete_endpoint(conn, account["id"], endpoint_id):
        raise NotFoundError(f"No webhook endpoint {endpoint_id} in account {account['slug']!r}")
    _record(conn, account, actor, AuditAction.WEBHOOK_REMOVED, found)


def resume(
    conn: Connection, account_id: int, endpoint_id: int, *, actor: str | None = None
) -> None:
    """Retry a failing endpoint now, from the event it is stuck on."""
    account = account_store.get_account_by_id(conn, account_id)
    found = store.get_endpoint(conn, account_id, endpoint_id)
    if found is None:
        raise NotFoundError(f"No webhook endpoint {endpoint_id} in account {account['slug']!r}")
    _record(conn, account, actor, AuditAction.WEBHOOK_RESUMED, found)
    store.set_endpoint(
        conn,
        endpoint_id,
        status=EndpointStatus.ACTIVE,
        attempts=0,
        first_failure_at=None,
        next_attempt_at=utcnow(),
    )


def deliveries(
    conn: Connection, account_id: int, endpoint_id: int, *, limit: int = 50
) -> list[dict[str, Any]]:
    """The delivery log of one endpoint, newest first."""
    if store.get_endpoint(conn, account_id, endpoint_id) is None:
        slug = account_store.get_account_by_id(conn, account_id)["slug"]
        raise NotFoundError(f"No webhook endpoint {endpoint_id} in account {slug!r}")
    return store.list_deliveries(conn, account_id, endpoint_id, limit=limit)

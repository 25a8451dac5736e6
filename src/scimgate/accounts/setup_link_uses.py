"""Which uses of a setup link the audit log records, so that every holder of a link shows
up there without the page's 5-second status polls flooding it.

- `setup_link.opened`: the first request through the link from each browser (the setup
  pages' cookie, known by a fingerprint, never the cookie itself) at each client
  address: a second browser, or the same browser from another address, is a new entry;
  a poll from a browser already recorded at that address is not. A request that comes
  without the cookie (a first visit, or a client that keeps no cookies) is recorded
  unless one from the same address was recorded in the last USE_QUIET.
- `setup_link.request_viewed`: a logged request (which shows user data) opened through
  the link, once per entry for each browser and address, by the same rule.

Both carry the client's address (as the sign-in throttle sees it: uvicorn's, from
X-Forwarded-For when the proxy is trusted), its User-Agent and the browser fingerprint.
Whether a use is recorded is read from the audit log itself (this link's entries, found
through the (account, at) index since the link was created).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from scimgate import audit
from scimgate.accounts.setup_links import SetupVisit
from scimgate.audit.actions import AuditAction
from scimgate.store import audit as audit_store
from scimgate.store import setup_links as store
from scimgate.timestamps import as_utc

USE_QUIET = timedelta(minutes=1)  # cookie-less requests from one address: one entry a minute
TOUCH_RESOLUTION = timedelta(minutes=1)  # last_used_at is written at most this often
MAX_USER_AGENT = 256


@dataclass(frozen=True)
class SetupClient:
    """Who sent a request through a link: address, User-Agent, and browser."""

    ip: str | None
    user_agent: str | None
    browser: str  # a fingerprint of the browser's setup cookie (never the cookie)
    new_browser: bool  # it came without the cookie (this answer gives it one)

    def details(self) -> dict[str, Any]:
        """What an audit entry says of the client."""
        return {
            "ip": (self.ip or "")[:64] or None,
            "user_agent": (self.user_agent or "")[:MAX_USER_AGENT] or None,
            "browser": self.browser,
        }


@dataclass(frozen=True)
class UseNote:
    """What a request through a link writes: an audit entry, last_used_at, or nothing."""

    audited: bool
    touch: bool

    def __bool__(self) -> bool:
        return self.audited or self.touch


def use_to_note(conn: Connection, visit: SetupVisit, client: SetupClient, now: datetime) -> UseNote:
    """What this request would write (read only: a poll of a recorded browser writes
    nothing, except last_used_at once a minute)."""
    last = visit.last_used_at
    return UseNote(
        audited=not _recorded(conn, visit, client, now, AuditAction.SETUP_LINK_OPENED),
        touch=last is None or now - last >= TOUCH_RESOLUTION,
    )


def note_use(conn: Connection, visit: SetupVisit, client: SetupClient, now: datetime) -> None:
    """Write what use_to_note asks for, decided again in this write transaction."""
    note = use_to_note(conn, visit, client, now)
    if note.audited:
        _record(conn, visit, client, AuditAction.SETUP_LINK_OPENED, {})
    if note.touch:
        store.touch(conn, visit.account_id, visit.link_id, now)


def view_to_note(
    conn: Connection, visit: SetupVisit, client: SetupClient, entry_id: int, now: datetime
) -> bool:
    """Whether opening this logged request through the link is a new audit entry."""
    action = AuditAction.SETUP_LINK_REQUEST_VIEWED
    return not _recorded(conn, visit, client, now, action, entry_id=entry_id)


def note_view(
    conn: Connection, visit: SetupVisit, client: SetupClient, entry_id: int, now: datetime
) -> None:
    """Record that the link's holder opened a logged request (unless already recorded)."""
    if view_to_note(conn, visit, client, entry_id, now):
        action = AuditAction.SETUP_LINK_REQUEST_VIEWED
        _record(conn, visit, client, action, {"entry_id": entry_id})


def _target(visit: SetupVisit) -> str:
    return f"setup link {visit.link_id}"


def _record(
    conn: Connection,
    visit: SetupVisit,
    client: SetupClient,
    action: AuditAction,
    extra: dict[str, Any],
) -> None:
    audit.record(
        conn,
        visit.account_id,
        actor=visit.actor,
        action=action,
        target=_target(visit),
        details={"link_id": visit.link_id, "prefix": visit.prefix, **extra, **client.details()},
    )


def _recorded(
    conn: Connection,
    visit: SetupVisit,
    client: SetupClient,
    now: datetime,
    action: AuditAction,
    *,
    entry_id: int | None = None,
) -> bool:
    """Whether an entry of this link already covers this client (see the module's rule)."""
    rows = audit_store.entries_since(
        conn, visit.account_id, since=visit.created_at, actions=[action], target=_target(visit)
    )
    ip = client.details()["ip"]
    for row in rows:
        details = row["details"] or {}
        if details.get("ip") != ip or details.get("entry_id") != entry_id:
            continue
        if client.new_browser:
            if now - as_utc(row["at"]) < USE_QUIET:
                return True
        elif details.get("browser") == client.browser:
            return True
    return False

"""Setup links: a time-limited, revocable link that lets the customer's IT admin, who has no
console account, connect their identity provider to one account.

The link's token (`sgs_` + 256 random bits) is shown once, to the admin who creates it,
and stored only as its SHA-256 hash, like Secret Tokens and API keys. A link opens the
guided setup pages of its own account and nothing else; what its holder does there (open
the pages, open a logged request, generate a Secret Token, change the attribute mapping)
goes through the same services as the console, in the audit log with the link as the
actor (`setuplink:<prefix>`; which uses are recorded: accounts/setup_link_uses.py). A link
stops working when it expires, is revoked, or its account's provisioning is deactivated;
all three look the same from outside.

A link issues at most MAX_TOKENS Secret Tokens. Each one's token.issued entry names the
link by id (`setup_link_id`): that is how a link's tokens are counted, listed and, when
the link is revoked with `revoke_tokens`, revoked with it (the token's name is only a
label).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from scimgate import audit
from scimgate.accounts import credentials
from scimgate.accounts import service as accounts
from scimgate.accounts.credentials import PROVISIONING_TOKEN, hash_secret
from scimgate.admins.throttle import ThrottlePolicy, client_key
from scimgate.audit.actions import AuditAction
from scimgate.errors import ForbiddenError, InvalidValueError, NotFoundError
from scimgate.mapping import service as mappings
from scimgate.scim.text import whole_number
from scimgate.store import accounts as account_store
from scimgate.store import admins as throttle_store
from scimgate.store import audit as audit_store
from scimgate.store import setup_links as store
from scimgate.timestamps import as_utc, utcnow

LINK_PREFIX = "sgs_"
DEFAULT_DAYS = 7
MAX_DAYS = 30
MAX_LINK_LENGTH = 64  # longer values in a URL are refused before hashing
MAX_TOKENS = 3  # Secret Tokens one link may issue: a leaked link cannot mint more
TOKENS_SPENT = (
    f"This setup link has already issued {MAX_TOKENS} Secret Tokens, the most one link may. "
    "Use one of those, or ask the person who sent you this link for a new one."
)
THROTTLE_SCOPE = "setup_ip"  # failed link look-ups, counted per client address


@dataclass(frozen=True)
class IssuedLink:
    """A new link: its token (shown once), id, prefix and expiry."""

    id: int
    token: str
    prefix: str
    expires_at: datetime


@dataclass(frozen=True)
class SetupVisit:
    """Who a live link speaks for: one account, as one link."""

    link_id: int
    account_id: int
    prefix: str
    note: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    account_name: str

    @property
    def actor(self) -> str:
        """How the audit log names this link: its prefix, never the token."""
        return audit.setup_link_actor(self.prefix)


def parse_days(value: str | int | None) -> int:
    """A validity in whole days, 1 to MAX_DAYS (empty: DEFAULT_DAYS).

    Raises InvalidValueError for anything else.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return DEFAULT_DAYS
    days = whole_number(str(value))  # 5000 digits: int() raises; a 400, not a 500
    if days is None or not 1 <= days <= MAX_DAYS:
        raise InvalidValueError(f"A setup link is valid for 1 to {MAX_DAYS} days")
    return days


def create(
    conn: Connection,
    account_id: int,
    *,
    days: int = DEFAULT_DAYS,
    note: str = "",
    actor: str | None = None,
) -> IssuedLink:
    """A new live link for an account whose provisioning is active (`actor`: its creator).

    Raises ForbiddenError when provisioning is not active, InvalidValueError for a validity
    outside 1 to MAX_DAYS days.
    """
    days = parse_days(days)
    row = account_store.get_account_by_id(conn, account_id)
    if not row["provisioning_active"]:
        raise ForbiddenError("Activate user provisioning first: a setup link connects to it")
    note = " ".join(note.split())[:255]
    creator = (actor or audit.local_actor())[:320]
    token = LINK_PREFIX + secrets.token_urlsafe(32)
    prefix = token[:12]
    now = utcnow()
    expires_at = now + timedelta(days=days)
    link_id = store.insert(
        conn,
        account_id,
        link_hash=hash_secret(token),
        prefix=prefix,
        note=note,
        created_by=creator,
        now=now,
        expires_at=expires_at,
    )
    audit.record(
        conn,
        account_id,
        actor=creator,
        action=AuditAction.SETUP_LINK_CREATED,
        target=f"setup link {link_id}",
        details={"link_id": link_id, "prefix": prefix, "note": note, "days": days},
    )
    return IssuedLink(id=link_id, token=token, prefix=prefix, expires_at=expires_at)


def list_links(
    conn: Connection, account_id: int, *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """An account's links, every live one first (newest first), then the newest expired or
    revoked ones; each with its state (live, expired or revoked) and the Secret Tokens it
    issued (`tokens_issued`) and of those still live (`tokens_live`)."""
    now = now or utcnow()
    rows = store.list_for(conn, account_id, now)
    issued: dict[int, list[int]] = {}
    live: set[int] = set()
    if rows:
        since = min(as_utc(r["created_at"]) for r in rows)
        issued = _issued_by(conn, account_id, since, {r["id"]: r["prefix"] for r in rows})
        live = _live_tokens(conn, account_id)
    for row in rows:
        row["state"] = link_state(row, now)
        ids = issued.get(row["id"], [])
        row["tokens_issued"] = len(ids)
        row["tokens_live"] = sum(1 for token_id in ids if token_id in live)
    return rows


def link_state(row: dict[str, Any], now: datetime) -> str:
    """live, expired or revoked."""
    if row["revoked_at"] is not None:
        return "revoked"
    return "expired" if as_utc(row["expires_at"]) <= now else "live"


def revoke(
    conn: Connection,
    account_id: int,
    link_id: int,
    *,
    actor: str | None = None,
    revoke_tokens: bool = False,
) -> list[int]:
    """Revoke a link: its next request is refused, like an unknown link. With
    `revoke_tokens`, the Secret Tokens it issued that are still live are revoked too (each
    audited as token.revoked); returns their ids.

    Raises NotFoundError when the account has no unrevoked link with that id.
    """
    by = (actor or audit.local_actor())[:320]
    revoked = store.revoke(conn, account_id, link_id, now=utcnow(), by=by)
    if revoked is None:
        raise NotFoundError(f"No unrevoked setup link {link_id} in this account")
    ending: list[int] = []
    if revoke_tokens:
        since = as_utc(revoked["created_at"])
        ids = _issued_by(conn, account_id, since, {link_id: revoked["prefix"]})[link_id]
        live = _live_tokens(conn, account_id)
        ending = [token_id for token_id in ids if token_id in live]
    audit.record(
        conn,
        account_id,
        actor=by,
        action=AuditAction.SETUP_LINK_REVOKED,
        target=f"setup link {link_id}",
        details={
            "link_id": link_id,
            "prefix": revoked["prefix"],
            "note": revoked["note"],
            "tokens_revoked": ending,
        },
    )
    for token_id in ending:
        accounts.revoke_token(conn, account_id, token_id, actor=by)
    return ending


def _issued_by(
    conn: Connection, account_id: int, since: datetime, links: dict[int, str]
) -> dict[int, list[int]]:
    """The Secret Tokens each of these links (id: prefix) issued, oldest first: read from
    the token.issued entries the link wrote as actor, which name it by id."""
    found: dict[int, list[int]] = {link_id: [] for link_id in links}
    rows = audit_store.entries_since(
        conn,
        account_id,
        since=since,
        actions=[AuditAction.TOKEN_ISSUED],
        actor_prefix=audit.setup_link_actor(""),
    )
    for row in rows:
        details = row["details"] or {}
        link_id = details.get("setup_link_id")
        if (
            isinstance(link_id, int)
            and link_id in found
            and row["actor"] == audit.setup_link_actor(links[link_id])
            and isinstance(details.get("token_id"), int)
        ):
            found[link_id].append(details["token_id"])
    return found


def _live_tokens(conn: Connection, account_id: int) -> set[int]:
    """The ids of the account's unrevoked Secret Tokens."""
    rows = credentials.list_for(conn, PROVISIONING_TOKEN, account_id)
    return {row["id"] for row in rows if row["revoked_at"] is None}


def tokens_of(conn: Connection, visit: SetupVisit) -> list[dict[str, Any]]:
    """The Secret Tokens this link issued (id, prefix, created, last used, revoked), oldest
    first: what its connection status watches."""
    ids = _issued_by(conn, visit.account_id, visit.created_at, {visit.link_id: visit.prefix})
    mine = set(ids[visit.link_id])
    rows = credentials.list_for(conn, PROVISIONING_TOKEN, visit.account_id)
    return sorted((row for row in rows if row["id"] in mine), key=lambda row: row["id"])


def open_link(conn: Connection, token: str, *, now: datetime | None = None) -> SetupVisit | None:
    """The visit a link's token opens, or None: unknown, tampered, expired, revoked, or
    its account's provisioning deactivated (one answer for all of them)."""
    if not token.startswith(LINK_PREFIX) or len(token) > MAX_LINK_LENGTH or not token.isascii():
        return None
    digest = hash_secret(token)
    row = store.find_live(conn, digest, now or utcnow())
    if row is None or not hmac.compare_digest(row["link_hash"], digest):
        return None
    return SetupVisit(
        link_id=row["id"],
        account_id=row["account_id"],
        prefix=row["prefix"],
        note=row["note"],
        created_at=as_utc(row["created_at"]),
        expires_at=as_utc(row["expires_at"]),
        last_used_at=as_utc(row["last_used_at"]) if row["last_used_at"] else None,
        account_name=row["account_name"],
    )


def issue_token(conn: Connection, visit: SetupVisit) -> accounts.IssuedToken:
    """A new Secret Token, as the console's Generate new token makes it (audited, the link
    as actor, naming the link by id), while the link has issued fewer than MAX_TOKENS.

    The link's row is locked first: two posts cannot both take the last token, and a link
    revoked meanwhile issues none. Raises ForbiddenError (TOKENS_SPENT) at the cap,
    NotFoundError when the link stopped being live.
    """
    link = store.lock_live(conn, visit.account_id, visit.link_id, utcnow())
    if link is None:
        raise NotFoundError("This setup link no longer works")
    since = as_utc(link["created_at"])
    issued = _issued_by(conn, visit.account_id, since, {visit.link_id: visit.prefix})
    if len(issued[visit.link_id]) >= MAX_TOKENS:
        raise ForbiddenError(TOKENS_SPENT)
    return accounts.issue_token(
        conn,
        visit.account_id,
        name=f"setup link {visit.prefix}",
        actor=visit.actor,
        details={"setup_link_id": visit.link_id},
    )


def set_mapping(conn: Connection, visit: SetupVisit, target: str, source: str) -> dict[str, Any]:
    """Map a SCIM attribute through the console's mapping service (same validation)."""
    return mappings.set_mapping(conn, visit.account_id, target, source, actor=visit.actor)


def _throttle_key(ip: str | None) -> str:
    return hashlib.sha256(f"{THROTTLE_SCOPE}\n{client_key(ip)}".encode()).hexdigest()


def wait_left(conn: Connection, policy: ThrottlePolicy, ip: str | None, now: datetime) -> timedelta:
    """How long a client that sent unknown links must wait before its next look-up (as
    the console sign-in: ip_max_failures free, then backoff doubling to backoff_max)."""
    row = throttle_store.get_throttles(conn, [_throttle_key(ip)]).get(_throttle_key(ip))
    if row is None:
        return timedelta(0)
    last = as_utc(row["last_failure_at"])
    if now - last > policy.window or row["failures"] < policy.ip_max_failures:
        return timedelta(0)
    wait = last + policy.wait_after(row["failures"] - policy.ip_max_failures) - now
    return max(timedelta(0), wait)


def record_failure(conn: Connection, policy: ThrottlePolicy, ip: str | None, now: datetime) -> None:
    """Count an unknown link from this client address."""
    throttle_store.count_failures(
        conn, {_throttle_key(ip): THROTTLE_SCOPE}, now=now, forget_before=now - policy.window
    )
    throttle_store.prune_throttles(conn, now - policy.window)

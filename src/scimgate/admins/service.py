"""Admins sign in to their account's console: argon2id passwords, server-side sessions.

Every refusal of a password says the same words whether the account, the address or the
password was wrong, and an unknown address costs the same argon2 verification, so
nothing tells anyone which addresses are admins. Failures slow down the client IP that
makes them (admins/throttle.py); nobody is locked out. Sessions are random 256-bit
secrets stored as SHA-256 (like provisioning tokens) with the IP and user agent of their
sign-in; signing out deletes the row, so a copied cookie dies with it. A new password
ends the admin's other sessions.
"""

from __future__ import annotations

import functools
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection

from scimgate import audit
from scimgate.accounts.credentials import LAST_USED_RESOLUTION, hash_secret
from scimgate.admins import throttle
from scimgate.admins.throttle import Attempt, ThrottlePolicy
from scimgate.audit.actions import AuditAction
from scimgate.errors import InvalidValueError, NotFoundError, ServiceError
from scimgate.mapping import types
from scimgate.store import accounts as account_store
from scimgate.store import admins as store
from scimgate.store.database import as_utc, utcnow

MIN_PASSWORD = 12
MAX_PASSWORD = 1024
SESSION_LIFETIME = timedelta(hours=12)
REFUSED = "The account, email or password is not right."
HANDLE_LENGTH = 16  # hex characters of a session's hash that name it on "Your sessions"
_HANDLE = re.compile(r"^[0-9a-f]{16}$")

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when no admin matches, so an unknown address costs the same time."""
    return _hasher.hash(secrets.token_urlsafe(16))


class SignInRefused(ServiceError):
    """Wrong account, email or password: one message for all of them."""


class SignInThrottled(SignInRefused):
    """This client failed too often: it waits `retry_after` seconds (nothing was checked)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "Too many sign-in attempts from your network; "
            f"try again in {retry_after} second{'s' if retry_after != 1 else ''}."
        )
        self.retry_after = retry_after


class WrongPassword(ServiceError):
    """The current password given to change it is not right."""


@dataclass(frozen=True)
class Client:
    """Where a request came from: the client IP (after a trusted proxy) and user agent."""

    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class Session:
    """A signed-in admin: whose account, and the form token of this session."""

    id: str  # the hash of the cookie's secret
    account_id: int
    account_slug: str
    account_name: str
    admin_id: int
    email: str
    csrf_token: str
    last_seen_at: datetime | None = None


def check_password(password: str) -> str:
    """A password an admin may choose: 12 to 1024 characters."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InvalidValueError(f"A password has at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidValueError(f"A password has at most {MAX_PASSWORD} characters")
    return password


def create_admin(
    conn: Connection, account_id: int, email: str, password: str, *, actor: str | None = None
) -> dict[str, object]:
    """A new admin of an account, with an argon2id hash of the password (`actor`: who the
    audit log names, see scimgate.audit)."""
    row = account_store.get_account_by_id(conn, account_id)
    try:
        email = types.to_email(email)
    except ValueError as exc:
        raise InvalidValueError(str(exc)) from None
    check_password(password)
    admin_id = store.insert_admin(
        conn, row["id"], email=email, password_hash=_hasher.hash(password), now=utcnow()
    )
    audit.record(
        conn,
        row["id"],
        actor=actor,
        action=AuditAction.ADMIN_CREATED,
        target=f"admin {email}",
        details={"admin_id": admin_id},
    )
    return {"id": admin_id, "account": row["slug"], "email": email}


def sign_in(
    conn: Connection,
    slug: str,
    email: str,
    password: str,
    *,
    now: datetime | None = None,
    client: Client | None = None,
    policy: ThrottlePolicy | None = None,
) -> tuple[str, Session]:
    """Check a password; on success a new session (its secret for the cookie, and its row).

    Raises SignInThrottled, before anything is checked, while this client must wait, and
    SignInRefused for a wrong account, email or password. The caller commits even when
    this raises: the failure count must persist.
    """
    now = now or utcnow()
    client = client or Client()
    policy = policy or ThrottlePolicy()
    slug, email = (slug or "").strip().lower()[:63], (email or "").strip()[:320]
    attempt = Attempt(slug, email, client.ip)
    left = throttle.wait_left(conn, policy, attempt, now)
    if left > timedelta(0):
        raise SignInThrottled(throttle.seconds(left))
    found = store.find_admin(conn, slug, email) if slug and email else None
    ok = _verify(found["password_hash"] if found else _dummy_hash(), password or "")
    if not ok or found is None:
        throttle.record_failure(conn, policy, attempt, now)
        raise SignInRefused(REFUSED)
    if _hasher.check_needs_rehash(found["password_hash"]):
        store.set_password_hash(conn, found["id"], _hasher.hash(password))
    throttle.record_success(conn, attempt)
    store.signed_in(conn, found["id"], now)
    store.delete_expired_sessions(conn, found["id"], now)
    secret = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    store.insert_session(
        conn,
        session_hash=hash_secret(secret),
        account_id=found["account_id"],
        admin_id=found["id"],
        csrf_token=csrf,
        now=now,
        expires_at=now + SESSION_LIFETIME,
        ip=(client.ip or "")[:64] or None,
        user_agent=(client.user_agent or "")[:512] or None,
    )
    session = session_for(conn, secret, now=now)
    assert session is not None
    return secret, session


def _verify(password_hash: str, password: str) -> bool:
    if len(password) > MAX_PASSWORD:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def session_for(conn: Connection, secret: str, *, now: datetime | None = None) -> Session | None:
    """The live session a cookie's secret opens, or None."""
    if not secret or len(secret) > 128:
        return None
    row = store.find_session(conn, hash_secret(secret))
    if row is None or as_utc(row["expires_at"]) <= (now or utcnow()):
        return None
    return Session(
        id=row["id"],
        account_id=row["account_id"],
        account_slug=row["slug"],
        account_name=row["account_name"],
        admin_id=row["admin_id"],
        email=row["email"],
        csrf_token=row["csrf_token"],
        last_seen_at=as_utc(row["last_seen_at"]) if row["last_seen_at"] else None,
    )


def needs_touch(session: Session, now: datetime | None = None) -> bool:
    """Whether the session's last-seen time is older than the one-minute resolution."""
    last = session.last_seen_at
    return last is None or (now or utcnow()) - last >= LAST_USED_RESOLUTION


def touch(conn: Connection, session: Session, now: datetime | None = None) -> None:
    """Note that the session was used (at most once a minute: see needs_touch)."""
    store.touch_session(conn, session.id, now or utcnow())


def sign_out(conn: Connection, session: Session) -> None:
    """End the session: its cookie opens nothing any more."""
    store.delete_session(conn, session.id)


def reset_password(
    conn: Connection, account_id: int, email: str, password: str, *, actor: str | None = None
) -> int:
    """The operator sets a new password: every session of the admin ends (how many did).

    The address's failure count starts again too.
    """
    slug = account_store.get_account_by_id(conn, account_id)["slug"]
    found = store.find_admin(conn, slug, email)
    if found is None:
        raise NotFoundError(f"No admin {email!r} in account {slug!r}")
    check_password(password)
    store.set_password_hash(conn, found["id"], _hasher.hash(password))
    throttle.forget_email(conn, found["account_id"], email)
    ended = store.delete_sessions(conn, found["account_id"], found["id"])
    _record(
        conn,
        found["account_id"],
        actor,
        AuditAction.ADMIN_PASSWORD_RESET,
        found,
        sessions_ended=ended,
    )
    return ended


def _record(
    conn: Connection,
    account_id: int,
    actor: str | None,
    action: str,
    admin: dict[str, Any],
    **details: Any,
) -> None:
    """An audit entry about one admin (named by email; never a password or session secret)."""
    audit.record(
        conn,
        account_id,
        actor=actor,
        action=action,
        target=f"admin {admin['email']}",
        details={"admin_id": admin["id"], **details},
    )


def change_password(
    conn: Connection,
    session: Session,
    current: str,
    new: str,
    *,
    now: datetime | None = None,
    client: Client | None = None,
    policy: ThrottlePolicy | None = None,
) -> int:
    """A signed-in admin changes their own password; their other sessions end (how many).

    A wrong current password counts as a failed sign-in from this client (and is
    throttled like one), so a borrowed session cannot be used to guess the password.
    """
    now = now or utcnow()
    client = client or Client()
    policy = policy or ThrottlePolicy()
    attempt = Attempt(session.account_slug, session.email, client.ip)
    left = throttle.wait_left(conn, policy, attempt, now)
    if left > timedelta(0):
        raise SignInThrottled(throttle.seconds(left))
    found = store.find_admin(conn, session.account_slug, session.email)
    if found is None or found["id"] != session.admin_id:
        raise NotFoundError("No such admin")
    if not _verify(found["password_hash"], current or ""):
        throttle.record_failure(conn, policy, attempt, now)
        raise WrongPassword("That is not your current password.")
    check_password(new)
    store.set_password_hash(conn, found["id"], _hasher.hash(new))
    throttle.record_success(conn, attempt)
    ended = store.delete_sessions(conn, session.account_id, session.admin_id, keep=session.id)
    _record(
        conn,
        session.account_id,
        audit.console_actor(session.email),
        AuditAction.ADMIN_PASSWORD_CHANGED,
        found,
        sessions_ended=ended,
    )
    return ended


def list_sessions(
    conn: Connection, session: Session, *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """The signed-in admin's live sessions: created, last seen, IP, user agent, and which
    one is this (`current`); each named by its `handle`, never by its whole hash."""
    rows = store.list_sessions(conn, session.account_id, session.admin_id, now or utcnow())
    result = []
    for row in rows:
        session_hash = row.pop("id")
        row["handle"] = session_hash[:HANDLE_LENGTH]
        row["current"] = session_hash == session.id
        result.append(row)
    result.sort(key=lambda r: not r["current"])  # this session first
    return result


def revoke_session(conn: Connection, session: Session, handle: str) -> bool:
    """End one of the signed-in admin's sessions by its handle; whether it was this one."""
    if not _HANDLE.match(handle or ""):
        raise NotFoundError("No such session")
    rows = store.list_sessions(conn, session.account_id, session.admin_id, utcnow())
    matches = [r["id"] for r in rows if r["id"].startswith(handle)]
    if len(matches) != 1:
        raise NotFoundError("No such session")
    store.delete_session_of(conn, session.account_id, session.admin_id, matches[0])
    _record(
        conn,
        session.account_id,
        audit.console_actor(session.email),
        AuditAction.ADMIN_SESSION_REVOKED,
        {"id": session.admin_id, "email": session.email},
        session=handle,
        current=matches[0] == session.id,
    )
    return matches[0] == session.id


def sign_out_others(conn: Connection, session: Session) -> int:
    """End every other session of the signed-in admin (how many there were)."""
    ended = store.delete_sessions(conn, session.account_id, session.admin_id, keep=session.id)
    if ended:
        _record(
            conn,
            session.account_id,
            audit.console_actor(session.email),
            AuditAction.ADMIN_SESSIONS_REVOKED,
            {"id": session.admin_id, "email": session.email},
            sessions_ended=ended,
        )
    return ended


def list_admins(conn: Connection, account_id: int) -> list[dict[str, object]]:
    """An account's admins, without their hashes."""
    return store.list_admins(conn, account_id)

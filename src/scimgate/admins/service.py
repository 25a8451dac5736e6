"""Admins sign in to their account's console: argon2id passwords, server-side sessions.

Sign-in failures are counted per (account, email) as typed, whether or not that admin
exists, and every refusal says the same words, so neither the message nor the lock-out
tells anyone which addresses are admins. Sessions are random 256-bit secrets stored as
SHA-256 (like provisioning tokens); signing out deletes the row, so a copied cookie dies
with it.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection

from scimgate.accounts.service import hash_token
from scimgate.errors import InvalidValueError, NotFoundError, ServiceError
from scimgate.mapping import types
from scimgate.store import accounts as account_store
from scimgate.store import admins as store
from scimgate.store.database import as_utc, utcnow

MIN_PASSWORD = 12
MAX_PASSWORD = 1024
SESSION_LIFETIME = timedelta(hours=12)
MAX_FAILURES = 5  # within FAILURE_WINDOW, then locked for LOCK_TIME
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_TIME = timedelta(minutes=15)
REFUSED = "The account, email or password is not right."

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when no admin matches, so an unknown address costs the same time."""
    return _hasher.hash(secrets.token_urlsafe(16))


class SignInRefused(ServiceError):
    """Wrong account, email or password, or locked out: one message for all of them."""


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


def check_password(password: str) -> str:
    """A password an admin may choose: 12 to 1024 characters."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InvalidValueError(f"A password has at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidValueError(f"A password has at most {MAX_PASSWORD} characters")
    return password


def create_admin(conn: Connection, slug: str, email: str, password: str) -> dict[str, object]:
    """A new admin of an account, with an argon2id hash of the password."""
    row = account_store.get_account(conn, slug)
    try:
        email = types.to_email(email)
    except ValueError as exc:
        raise InvalidValueError(str(exc)) from None
    check_password(password)
    admin_id = store.insert_admin(
        conn, row["id"], email=email, password_hash=_hasher.hash(password), now=utcnow()
    )
    return {"id": admin_id, "account": slug, "email": email}


def _subject(slug: str, email: str) -> str:
    return hashlib.sha256(f"{slug.strip().lower()}\n{email.strip().lower()}".encode()).hexdigest()


def sign_in(
    conn: Connection, slug: str, email: str, password: str, *, now: datetime | None = None
) -> tuple[str, Session]:
    """Check a password; on success a new session (its secret for the cookie, and its row).

    The caller commits even when this raises: the failure count must persist.
    """
    now = now or utcnow()
    slug, email = (slug or "").strip().lower()[:63], (email or "").strip()[:320]
    subject = _subject(slug, email)
    failure = store.get_failure(conn, subject)
    if failure and failure["locked_until"] and as_utc(failure["locked_until"]) > now:
        raise SignInRefused(_locked_message(as_utc(failure["locked_until"]) - now))
    found = store.find_admin(conn, slug, email) if slug and email else None
    ok = _verify(found["password_hash"] if found else _dummy_hash(), password or "")
    if not ok or found is None:
        _count_failure(conn, subject, failure, now)
        raise SignInRefused(REFUSED)
    if _hasher.check_needs_rehash(found["password_hash"]):
        store.set_password_hash(conn, found["id"], _hasher.hash(password))
    store.clear_failures(conn, subject)
    store.signed_in(conn, found["id"], now)
    store.delete_expired_sessions(conn, found["id"], now)
    secret = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    store.insert_session(
        conn,
        session_hash=hash_token(secret),
        account_id=found["account_id"],
        admin_id=found["id"],
        csrf_token=csrf,
        now=now,
        expires_at=now + SESSION_LIFETIME,
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


def _count_failure(conn: Connection, subject: str, failure: dict | None, now: datetime) -> None:
    """One more failure in the window; the fifth locks the subject for a while."""
    if failure is None or now - as_utc(failure["first_at"]) > FAILURE_WINDOW:
        failures, first_at = 1, now
    else:
        failures, first_at = failure["failures"] + 1, as_utc(failure["first_at"])
    locked_until = now + LOCK_TIME if failures >= MAX_FAILURES else None
    store.put_failure(
        conn,
        subject,
        failures=0 if locked_until else failures,
        first_at=first_at,
        locked_until=locked_until,
        exists=failure is not None,
    )


def _locked_message(left: timedelta) -> str:
    minutes = max(1, int(left.total_seconds() + 59) // 60)
    return (
        f"Too many failed sign-ins. Try again in {minutes} minute{'s' if minutes > 1 else ''}, "
        "or ask your operator to reset your password."
    )


def session_for(conn: Connection, secret: str, *, now: datetime | None = None) -> Session | None:
    """The live session a cookie's secret opens, or None."""
    if not secret or len(secret) > 128:
        return None
    row = store.find_session(conn, hash_token(secret))
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
    )


def sign_out(conn: Connection, session: Session) -> None:
    """End the session: its cookie opens nothing any more."""
    store.delete_session(conn, session.id)


def reset_password(conn: Connection, slug: str, email: str, password: str) -> None:
    """The operator sets a new password (and lifts a lock-out)."""
    found = store.find_admin(conn, slug, email)
    if found is None:
        raise NotFoundError(f"No admin {email!r} in account {slug!r}")
    check_password(password)
    store.set_password_hash(conn, found["id"], _hasher.hash(password))
    store.clear_failures(conn, _subject(slug, email))


def list_admins(conn: Connection, slug: str) -> list[dict[str, object]]:
    """An account's admins, without their hashes."""
    row = account_store.get_account(conn, slug)
    return store.list_admins(conn, row["id"])

"""Admin, console-session and failed-sign-in rows. Secrets are stored only as hashes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.exc import IntegrityError

from scimgate.errors import ConflictError
from scimgate.store.tables import account, admin, admin_session, signin_failure


def insert_admin(
    conn: Connection, account_id: int, *, email: str, password_hash: str, now: datetime
) -> int:
    """A new admin; one per email address in an account (database constraint)."""
    try:
        with conn.begin_nested():
            result = conn.execute(
                admin.insert().values(
                    account_id=account_id,
                    email=email,
                    email_key=email.lower(),
                    password_hash=password_hash,
                    created_at=now,
                )
            )
    except IntegrityError:
        raise ConflictError(
            f"An admin with email {email!r} already exists in this account", attribute="email"
        ) from None
    return int(result.inserted_primary_key[0])


def set_password_hash(conn: Connection, admin_id: int, password_hash: str) -> None:
    """Replace an admin's password hash (a reset, or a rehash with newer parameters)."""
    conn.execute(update(admin).where(admin.c.id == admin_id).values(password_hash=password_hash))


def find_admin(conn: Connection, slug: str, email: str) -> dict[str, Any] | None:
    """The admin with this email in the account with this slug, with the account's name."""
    row = (
        conn.execute(
            select(
                admin.c.id,
                admin.c.account_id,
                admin.c.email,
                admin.c.password_hash,
                account.c.slug,
            )
            .join(account, account.c.id == admin.c.account_id)
            .where(account.c.slug == slug, admin.c.email_key == email.lower())
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def list_admins(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    """An account's admins (hashes left out)."""
    rows = conn.execute(
        select(admin.c.id, admin.c.email, admin.c.created_at, admin.c.last_signin_at)
        .where(admin.c.account_id == account_id)
        .order_by(admin.c.email_key)
    ).mappings()
    return [dict(r) for r in rows]


def signed_in(conn: Connection, admin_id: int, now: datetime) -> None:
    """Note a successful sign-in."""
    conn.execute(update(admin).where(admin.c.id == admin_id).values(last_signin_at=now))


def insert_session(
    conn: Connection,
    *,
    session_hash: str,
    account_id: int,
    admin_id: int,
    csrf_token: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    """Store a new console session under the hash of its secret."""
    conn.execute(
        admin_session.insert().values(
            id=session_hash,
            account_id=account_id,
            admin_id=admin_id,
            csrf_token=csrf_token,
            created_at=now,
            expires_at=expires_at,
        )
    )


def find_session(conn: Connection, session_hash: str) -> dict[str, Any] | None:
    """A session with its admin and account, whatever its expiry (the caller checks)."""
    s, a, acc = admin_session, admin, account
    row = (
        conn.execute(
            select(
                s.c.id,
                s.c.account_id,
                s.c.admin_id,
                s.c.csrf_token,
                s.c.expires_at,
                a.c.email,
                acc.c.slug,
                acc.c.name.label("account_name"),
            )
            .join(a, a.c.id == s.c.admin_id)
            .join(acc, acc.c.id == s.c.account_id)
            .where(s.c.id == session_hash)
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def delete_session(conn: Connection, session_hash: str) -> None:
    """End one session (sign out)."""
    conn.execute(delete(admin_session).where(admin_session.c.id == session_hash))


def delete_expired_sessions(conn: Connection, admin_id: int, now: datetime) -> None:
    """Drop an admin's expired sessions (done at each sign-in, so the table stays small)."""
    conn.execute(
        delete(admin_session).where(
            admin_session.c.admin_id == admin_id, admin_session.c.expires_at < now
        )
    )


def get_failure(conn: Connection, subject: str) -> dict[str, Any] | None:
    """Failed sign-ins recorded for one (account, email) subject."""
    row = (
        conn.execute(select(signin_failure).where(signin_failure.c.subject == subject))
        .mappings()
        .first()
    )
    return dict(row) if row else None


def put_failure(
    conn: Connection,
    subject: str,
    *,
    failures: int,
    first_at: datetime,
    locked_until: datetime | None,
    exists: bool,
) -> None:
    """Record the failure count of a subject (insert or update)."""
    values = {"failures": failures, "first_at": first_at, "locked_until": locked_until}
    if exists:
        conn.execute(
            update(signin_failure).where(signin_failure.c.subject == subject).values(**values)
        )
        return
    try:
        with conn.begin_nested():
            conn.execute(signin_failure.insert().values(subject=subject, **values))
    except IntegrityError:  # a concurrent failure inserted it first
        conn.execute(
            update(signin_failure).where(signin_failure.c.subject == subject).values(**values)
        )


def clear_failures(conn: Connection, subject: str) -> None:
    """Forget failures after a successful sign-in."""
    conn.execute(delete(signin_failure).where(signin_failure.c.subject == subject))

"""Admin, console-session and sign-in throttle rows. Secrets are stored only as hashes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from scimgate.errors import ConflictError
from scimgate.store.tables.accounts import account, admin, admin_session, signin_throttle


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
    ip: str | None = None,
    user_agent: str | None = None,
) -> None:
    """Store a new console session under the hash of its secret, with where it came from."""
    conn.execute(
        admin_session.insert().values(
            id=session_hash,
            account_id=account_id,
            admin_id=admin_id,
            csrf_token=csrf_token,
            created_at=now,
            expires_at=expires_at,
            last_seen_at=now,
            ip=ip,
            user_agent=user_agent,
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
                s.c.last_seen_at,
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


def touch_session(conn: Connection, session_hash: str, now: datetime) -> None:
    """Note that a session was used (the caller writes this at most once a minute)."""
    conn.execute(
        update(admin_session).where(admin_session.c.id == session_hash).values(last_seen_at=now)
    )


def list_sessions(
    conn: Connection, account_id: int, admin_id: int, now: datetime
) -> list[dict[str, Any]]:
    """An admin's live sessions, the most recently used first (hashes included: the caller
    shows only a prefix)."""
    s = admin_session
    rows = conn.execute(
        select(s.c.id, s.c.created_at, s.c.last_seen_at, s.c.expires_at, s.c.ip, s.c.user_agent)
        .where(s.c.account_id == account_id, s.c.admin_id == admin_id, s.c.expires_at > now)
        .order_by(s.c.last_seen_at.desc(), s.c.created_at.desc(), s.c.id)
    ).mappings()
    return [dict(r) for r in rows]


def delete_sessions(
    conn: Connection, account_id: int, admin_id: int, *, keep: str | None = None
) -> int:
    """End an admin's sessions, all of them or all but `keep`; how many there were."""
    s = admin_session
    query = delete(s).where(s.c.account_id == account_id, s.c.admin_id == admin_id)
    if keep is not None:
        query = query.where(s.c.id != keep)
    return conn.execute(query).rowcount


def delete_session_of(conn: Connection, account_id: int, admin_id: int, session_hash: str) -> int:
    """End one session of this admin (nobody else's); 1 if it was there."""
    s = admin_session
    return conn.execute(
        delete(s).where(
            s.c.account_id == account_id, s.c.admin_id == admin_id, s.c.id == session_hash
        )
    ).rowcount


def get_throttles(conn: Connection, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The failure counts recorded under these keys (absent keys have none)."""
    t = signin_throttle
    rows = conn.execute(select(t).where(t.c.key.in_(list(keys)))).mappings()
    return {r["key"]: dict(r) for r in rows}


def count_failures(
    conn: Connection, keys: dict[str, str], *, now: datetime, forget_before: datetime
) -> None:
    """One more failure under each key ({key: scope}), atomically, in one statement each.

    A count whose last failure is older than `forget_before` starts again at 1. Keys are
    written in sorted order, so concurrent sign-ins on PostgreSQL lock rows in one order.
    """
    t = signin_throttle
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    for key in sorted(keys):
        statement = insert(t).values(key=key, scope=keys[key], failures=1, last_failure_at=now)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[t.c.key],
                set_={
                    "failures": case(
                        (t.c.last_failure_at < forget_before, 1), else_=t.c.failures + 1
                    ),
                    "last_failure_at": now,
                },
            )
        )


def clear_throttles(conn: Connection, keys: Iterable[str]) -> None:
    """Forget the failures under these keys (after a successful sign-in)."""
    conn.execute(delete(signin_throttle).where(signin_throttle.c.key.in_(sorted(keys))))


def prune_throttles(conn: Connection, before: datetime, *, limit: int = 500) -> None:
    """Drop counts nobody has added to since `before` (a bounded batch; rows other
    transactions hold are skipped, so pruning never waits on a concurrent sign-in)."""
    t = signin_throttle
    stale = (
        select(t.c.key)
        .where(t.c.last_failure_at < before)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    conn.execute(delete(t).where(t.c.key.in_(stale)))

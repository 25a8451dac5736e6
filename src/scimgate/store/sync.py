"""SQL for Synchronize: sync runs and their items, the one-run-per-account lease, and the
batched reads that compare staging with members and teams.

Reads are keyset-paginated (`id > last ORDER BY id LIMIT n`) so a run holds one batch in
memory and each batch commits on its own: a run killed half-way leaves whole batches,
and the next run picks up from what is there.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import Connection, func, or_, select, text, update

from scimgate.store import raw
from scimgate.store.bulk import insert_rows
from scimgate.store.tables import sync_item, sync_run

_UNAVAILABLE = (sqlite3.OperationalError, psycopg.OperationalError)

# ---- bulk writes ----


def set_sync_markers(
    conn: Connection, account_id: int, rows: Sequence[tuple[str, int | None, int]]
) -> None:
    """Record what each member was last synced from: (member id, directory version, rev)."""
    if not rows:
        return
    if not raw.is_pg(conn):
        raw.executemany(
            conn,
            "UPDATE member SET synced_version = ?, synced_rev = ? WHERE account_id = ? AND id = ?",
            [(version, rev, account_id, member_id) for member_id, version, rev in rows],
        )
        return
    # One statement for the batch (an executemany is one statement per row).
    ids, versions, revs = zip(*rows, strict=True)
    raw.execute(
        conn,
        "UPDATE member AS m SET synced_version = v.version, synced_rev = v.rev "
        "FROM unnest(CAST(? AS TEXT[]), CAST(? AS INTEGER[]), CAST(? AS INTEGER[])) "
        "AS v(id, version, rev) WHERE m.account_id = ? AND m.id = v.id",
        (list(ids), list(versions), list(revs), account_id),
    )


# ---- runs ----


def insert_run(
    conn: Connection,
    account_id: int,
    *,
    trigger: str,
    status: str,
    owner: str | None,
    now: datetime,
    counts: dict[str, Any] | None = None,
) -> int:
    """A new run row; a second `running` row for the account violates a unique index."""
    result = conn.execute(
        sync_run.insert().values(
            account_id=account_id,
            trigger=trigger,
            status=status,
            counts=counts or {},
            owner=owner,
            created_at=now,
            started_at=now if status == "running" else None,
            heartbeat_at=now if status == "running" else None,
        )
    )
    return int(result.inserted_primary_key[0])


def lock_account(conn: Connection, account_id: int) -> None:
    """Serialise run starts per account (SQLite's BEGIN IMMEDIATE already does)."""
    if raw.is_pg(conn):
        raw.execute(conn, "SELECT id FROM account WHERE id = ? FOR UPDATE", (account_id,))


def running_run(conn: Connection, account_id: int) -> dict[str, Any] | None:
    """The account's running run, if any."""
    row = (
        conn.execute(
            select(sync_run).where(
                sync_run.c.account_id == account_id, sync_run.c.status == "running"
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def get_run(conn: Connection, account_id: int, run_id: int) -> dict[str, Any] | None:
    """One run of this account."""
    row = (
        conn.execute(
            select(sync_run).where(sync_run.c.account_id == account_id, sync_run.c.id == run_id)
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def list_runs(
    conn: Connection, account_id: int, *, limit: int = 20, before: int | None = None
) -> list[dict[str, Any]]:
    """Newest runs first; `before` continues a page after the run with that id."""
    query = select(sync_run).where(sync_run.c.account_id == account_id)
    if before is not None:
        query = query.where(sync_run.c.id < before)
    rows = conn.execute(query.order_by(sync_run.c.id.desc()).limit(limit)).mappings()
    return [dict(r) for r in rows]


def set_run(conn: Connection, account_id: int, run_id: int, **values: Any) -> None:
    """Update columns of one run."""
    conn.execute(
        update(sync_run)
        .where(sync_run.c.account_id == account_id, sync_run.c.id == run_id)
        .values(**values)
    )


# ---- member references a run resolves at its end ----

# A temporary table (per connection, never seen by others), so that a run holds one
# batch of them in memory whatever the account's size.
_DEFERRED = "scimgate_sync_deferred"
_DEFERRED_COLUMNS = (
    "seq",
    "member_id",
    "prop_id",
    "target",
    "label",
    "email",
    "directory_id",
    "action",
    "clean",
    "old",
    "source",
    "version",
)


def create_deferred_table(conn: Connection) -> None:
    """The run's table of deferred references, empty (a pooled connection may have one)."""
    raw.execute(
        conn,
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {_DEFERRED} (seq INTEGER PRIMARY KEY, "
        "member_id TEXT NOT NULL, prop_id TEXT NOT NULL, target TEXT NOT NULL, label TEXT, "
        "email TEXT, directory_id TEXT NOT NULL, action TEXT NOT NULL, clean INTEGER NOT NULL, old TEXT NOT NULL, source TEXT, "
        "version INTEGER NOT NULL)",
    )
    raw.execute(conn, f"DELETE FROM {_DEFERRED}")


def drop_deferred_table(conn: Connection) -> None:
    raw.execute(conn, f"DROP TABLE IF EXISTS {_DEFERRED}")


def insert_deferred(conn: Connection, last_seq: int, deferred: Sequence[Any]) -> int:
    """Keep deferred references (objects with the fields of `_DEFERRED_COLUMNS` but seq);
    they are written in the batch's transaction and go with it if it fails. Returns the
    last sequence number used."""
    insert_rows(
        conn,
        _DEFERRED,
        _DEFERRED_COLUMNS,
        [
            (
                last_seq + i + 1,
                d.member_id,
                d.prop_id,
                d.target,
                d.label,
                d.email,
                d.directory_id,
                d.action,
                int(d.clean),
                raw.dump_json(d.old),
                d.source,
                d.version,
            )
            for i, d in enumerate(deferred)
        ],
    )
    return last_seq + len(deferred)


def deferred_batch(conn: Connection, after: int, limit: int) -> list[tuple[Any, ...]]:
    """Deferred references after sequence number `after`, in order: (seq, member_id,
    prop_id, target, label, email, directory_id, action, clean, old, source, version) with
    `old` and `clean` as they were handed in."""
    rows = raw.execute(
        conn,
        f"SELECT {', '.join(_DEFERRED_COLUMNS)} FROM {_DEFERRED} WHERE seq > ? "
        "ORDER BY seq LIMIT ?",
        (after, limit),
    ).fetchall()
    return [(*r[:8], bool(r[8]), raw.load_json(r[9]), *r[10:]) for r in rows]


def insert_items(
    conn: Connection, account_id: int, run_id: int, items: Sequence[dict[str, Any]]
) -> None:
    """Per-item outcomes of a run (items carry their own `seq`)."""
    insert_rows(
        conn,
        "sync_item",
        (
            "account_id",
            "run_id",
            "seq",
            "kind",
            "action",
            "subject_id",
            "directory_id",
            "label",
            "changes",
            "error",
        ),
        [
            (
                account_id,
                run_id,
                i["seq"],
                i["kind"],
                i["action"],
                i.get("subject_id"),
                i.get("directory_id"),
                (i.get("label") or "")[:512],
                raw.dump_json(i.get("changes") or {}),
                i.get("error"),
            )
            for i in items
        ],
    )


# What an admin filters a run's items by (sync_item.action values per filter).
ITEM_ACTIONS = {
    "created": ("create",),
    "updated": ("update", "rename"),
    "deactivated": ("deactivate", "remove"),
    "reactivated": ("reactivate",),
}


def _items_query(
    account_id: int, run_id: int, *, errors_only: bool, action: str | None, search: str | None
) -> Any:
    where = [sync_item.c.account_id == account_id, sync_item.c.run_id == run_id]
    if errors_only:
        where.append(sync_item.c.error.is_not(None))
    if action:
        where.append(sync_item.c.action.in_(ITEM_ACTIONS[action]))
    if search:
        escaped = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        where.append(
            or_(
                func.lower(sync_item.c.label).like(pattern, escape="\\"),
                sync_item.c.directory_id == search,
                sync_item.c.subject_id == search,
            )
        )
    return where


def list_items(
    conn: Connection,
    account_id: int,
    run_id: int,
    *,
    errors_only: bool = False,
    action: str | None = None,
    search: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Items of one run in the order they happened, optionally only errors, one kind of
    action (a key of ITEM_ACTIONS) or those whose person or team matches `search`."""
    where = _items_query(account_id, run_id, errors_only=errors_only, action=action, search=search)
    rows = conn.execute(
        select(sync_item).where(*where).order_by(sync_item.c.seq).limit(limit).offset(offset)
    ).mappings()
    return [dict(r) for r in rows]


def count_items(
    conn: Connection,
    account_id: int,
    run_id: int,
    *,
    errors_only: bool = False,
    action: str | None = None,
    search: str | None = None,
) -> int:
    """How many items of one run match the same filters as list_items."""
    where = _items_query(account_id, run_id, errors_only=errors_only, action=action, search=search)
    return int(conn.execute(select(func.count()).select_from(sync_item).where(*where)).scalar_one())


# ---- counts for the safety hold and the plan ----


def count(conn: Connection, sql: str, params: Sequence[Any]) -> int:
    """A single COUNT."""
    return int(raw.execute(conn, sql, params).fetchone()[0])


DEACTIVATE_INACTIVE = (
    "SELECT COUNT(*) FROM member m JOIN directory_user du "
    "ON du.account_id = m.account_id AND du.id = m.directory_user_id "
    "WHERE m.account_id = ? AND m.status = 'active' AND du.active = ?"
)
DEACTIVATE_REMOVED = (
    "SELECT COUNT(*) FROM member m WHERE m.account_id = ? AND m.status = 'active' "
    "AND m.directory_user_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM directory_user du "
    "WHERE du.account_id = m.account_id AND du.id = m.directory_user_id)"
)
ACTIVE_PROVISIONED = (
    "SELECT COUNT(*) FROM member WHERE account_id = ? AND status = 'active' AND source = 'scim'"
)
IN_SYNC = (
    "SELECT COUNT(*) FROM directory_user du JOIN member m "
    "ON m.account_id = du.account_id AND m.directory_user_id = du.id "
    "WHERE du.account_id = ? AND m.synced_version = du.version AND m.synced_rev = ?"
)


# ---- batched reads ----


def staged_batch(
    conn: Connection, account_id: int, rev: int, after: str, limit: int
) -> list[tuple[Any, ...]]:
    """Staged users whose member is missing or out of date, from `after` on.

    Rows: (du id, doc, version, active, user_name, m.id, m.email, m.name, m.status, m.source,
    display_name);
    the document as JSON text on both databases (psycopg would parse it with the json
    module, `raw.load_json` does it with orjson).
    """
    doc = "CAST(du.doc AS TEXT)" if raw.is_pg(conn) else "du.doc"
    return raw.execute(
        conn,
        f"SELECT du.id, {doc}, du.version, du.active, du.user_name, "
        "m.id, m.email, m.name, m.status, m.source, du.display_name "
        "FROM directory_user du LEFT JOIN member m "
        "ON m.account_id = du.account_id AND m.directory_user_id = du.id "
        "WHERE du.account_id = ? AND du.id > ? AND (m.id IS NULL OR m.synced_version IS NULL "
        "OR m.synced_version <> du.version OR m.synced_rev IS NULL OR m.synced_rev <> ?) "
        "ORDER BY du.id LIMIT ?",
        (account_id, after, rev, limit),
    ).fetchall()


def removed_batch(
    conn: Connection, account_id: int, after: str, limit: int
) -> list[tuple[Any, ...]]:
    """Members linked to a directory user that is no longer staged: (id, email, name, status)."""
    return raw.execute(
        conn,
        "SELECT m.id, m.email, m.name, m.status FROM member m "
        "WHERE m.account_id = ? AND m.id > ? AND m.directory_user_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM directory_user du "
        "WHERE du.account_id = m.account_id AND du.id = m.directory_user_id) "
        "ORDER BY m.id LIMIT ?",
        (account_id, after, limit),
    ).fetchall()


def select_in(
    conn: Connection, sql: str, account_id: int, keys: Sequence[Any]
) -> Iterable[Sequence[Any]]:
    """Rows of `sql` (whose last condition is `column IN ({keys})`) for these keys, deduplicated.

    PostgreSQL: one statement with an array (`= ANY`), whatever the number of keys;
    SQLite: IN lists of 500 (its limit on parameters is far above, its plans are per text).
    """
    keys = list(dict.fromkeys(keys))
    if not keys:
        return
    if raw.is_pg(conn):
        yield from raw.execute(
            conn, sql.replace(" IN ({keys})", " = ANY(CAST(? AS TEXT[]))"), (account_id, keys)
        ).fetchall()
        return
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        yield from raw.execute(
            conn, sql.replace("{keys}", ", ".join("?" * len(chunk))), (account_id, *chunk)
        ).fetchall()


def members_by_email(
    conn: Connection, account_id: int, email_keys: Sequence[str]
) -> dict[str, tuple[Any, ...]]:
    """Members owning these lower-cased emails: key -> (id, email, name, status, source, directory_user_id)."""
    rows = select_in(
        conn,
        "SELECT email_key, id, email, name, status, source, directory_user_id FROM member "
        "WHERE account_id = ? AND email_key IN ({keys})",
        account_id,
        email_keys,
    )
    return {row[0]: tuple(row[1:]) for row in rows}


def members_of_directory_users(
    conn: Connection, account_id: int, user_ids: Sequence[str]
) -> dict[str, str]:
    """Directory user id -> member id, for those that are linked."""
    rows = select_in(
        conn,
        "SELECT directory_user_id, id FROM member "
        "WHERE account_id = ? AND directory_user_id IN ({keys})",
        account_id,
        user_ids,
    )
    return {r[0]: r[1] for r in rows}


def staged_users(
    conn: Connection, account_id: int, user_ids: Sequence[str]
) -> dict[str, tuple[str, str | None, bool]]:
    """Which of these directory user ids are staged: id -> (userName, displayName, active)."""
    rows = select_in(
        conn,
        "SELECT id, user_name, display_name, active FROM directory_user "
        "WHERE account_id = ? AND id IN ({keys})",
        account_id,
        user_ids,
    )
    return {r[0]: (r[1], r[2], bool(r[3])) for r in rows}


def memberships_of(conn: Connection, account_id: int, user_ids: Sequence[str]) -> int:
    """How many group memberships these directory users have."""
    rows = select_in(
        conn,
        "SELECT COUNT(*) FROM directory_membership WHERE account_id = ? AND member_type = 'User' "
        "AND member_id IN ({keys})",
        account_id,
        user_ids,
    )
    return sum(int(r[0]) for r in rows)


TEAMS_TO_WRITE = (
    "SELECT dg.id, dg.display_name, t.id, t.name FROM directory_group dg LEFT JOIN team t "
    "ON t.account_id = dg.account_id AND t.directory_group_id = dg.id "
    "WHERE dg.account_id = ? AND dg.id > ? AND (t.id IS NULL OR t.name <> dg.display_name) "
    "ORDER BY dg.id LIMIT ?"
)
TEAMS_TO_REMOVE = (
    "SELECT t.id, t.name, t.directory_group_id FROM team t WHERE t.account_id = ? AND t.id > ? "
    "AND NOT EXISTS (SELECT 1 FROM directory_group dg "
    "WHERE dg.account_id = t.account_id AND dg.id = t.directory_group_id) ORDER BY t.id LIMIT ?"
)
MEMBERSHIPS_TO_ADD = (
    "SELECT dm.group_id, dm.member_id, t.id, m.id FROM directory_membership dm "
    "JOIN team t ON t.account_id = dm.account_id AND t.directory_group_id = dm.group_id "
    "JOIN member m ON m.account_id = dm.account_id AND m.directory_user_id = dm.member_id "
    "WHERE dm.account_id = ? AND dm.member_type = 'User' "
    # A row-value comparison: PostgreSQL turns it into an index range, an OR it does not.
    "AND (dm.group_id, dm.member_id) > (?, ?) AND NOT EXISTS (SELECT 1 FROM team_member tm "
    "WHERE tm.account_id = dm.account_id AND tm.team_id = t.id AND tm.member_id = m.id) "
    "ORDER BY dm.group_id, dm.member_id LIMIT ?"
)
MEMBERSHIPS_TO_REMOVE = (
    "SELECT tm.team_id, tm.member_id FROM team_member tm "
    "JOIN team t ON t.account_id = tm.account_id AND t.id = tm.team_id "
    "JOIN member m ON m.account_id = tm.account_id AND m.id = tm.member_id "
    "WHERE tm.account_id = ? AND (tm.team_id, tm.member_id) > (?, ?) "
    # A team whose group is gone is removed with its memberships: not counted twice.
    "AND EXISTS (SELECT 1 FROM directory_group g WHERE g.account_id = t.account_id "
    "AND g.id = t.directory_group_id) "
    "AND NOT EXISTS (SELECT 1 FROM directory_membership dm WHERE dm.account_id = tm.account_id "
    "AND dm.group_id = t.directory_group_id AND dm.member_id = m.directory_user_id) "
    "ORDER BY tm.team_id, tm.member_id LIMIT ?"
)
# For a dry run: memberships whose user is staged but not yet on the team (the team or
# the member may not exist yet either).
PLANNED_MEMBERSHIP_ADDS = (
    "SELECT COUNT(*) FROM directory_membership dm JOIN directory_user du "
    "ON du.account_id = dm.account_id AND du.id = dm.member_id "
    "LEFT JOIN member m ON m.account_id = du.account_id AND m.directory_user_id = du.id "
    "WHERE dm.account_id = ? AND dm.member_type = 'User' AND (du.active = ? OR m.id IS NOT NULL) "
    "AND NOT EXISTS (SELECT 1 FROM team t JOIN team_member tm "
    "ON tm.account_id = t.account_id AND tm.team_id = t.id "
    "WHERE t.account_id = dm.account_id AND t.directory_group_id = dm.group_id AND tm.member_id = m.id)"
)


_FINGERPRINT_SQL = (
    "SELECT "
    "(SELECT max(updated_at) FROM directory_user WHERE account_id = :a), "
    "(SELECT max(updated_at) FROM directory_group WHERE account_id = :a), "
    "(SELECT coalesce(sum(n), 0) FROM directory_count WHERE account_id = :a), "
    "(SELECT count(*) FROM member WHERE account_id = :a), "
    "(SELECT max(id) FROM sync_run WHERE account_id = :a), "
    # a confirmed held run keeps its id: its end is what moves
    "(SELECT max(finished_at) FROM sync_run WHERE account_id = :a), "
    "(SELECT count(*) FROM sync_run WHERE account_id = :a AND status = 'running'), "
    "mapping_rev, sync_hold_percent, sync_hold_minimum, event_seq "
    "FROM account WHERE id = :a"
)


def plan_fingerprint(conn: Connection, account_id: int) -> tuple[Any, ...]:
    """What a dry-run plan depends on, read through indexes: when none of it moved, an
    earlier plan still holds (staging writes move updated_at or the counts, a sync adds or
    finishes a run, a mapping change bumps the revision, a manual member or Property value
    writes an event)."""
    row = conn.execute(text(_FINGERPRINT_SQL), {"a": account_id}).first()
    return tuple(str(v) for v in row) if row else ()

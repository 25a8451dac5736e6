"""SQL for the drift report (docs/sync.md, "Drift report"): keyset reads of staged users no
member mirrors, manual members no staged user matches, and provisioned members already in
sync with their staged user, plus the last finished run and its recorded errors.

Every read is `key > after ORDER BY key LIMIT n` within one account, so the report holds
one batch in memory whatever the account's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple

from sqlalchemy import Connection

from scimgate.states import MemberSource, RunStatus
from scimgate.store import driver
from scimgate.store.sync_batches import select_in


class UnsyncedRow(NamedTuple):
    """A staged user no member mirrors, shaped like the member pass's staged rows (the
    member columns are always None) so the e-mail claim reads it as it reads those."""

    id: str
    doc: str  # JSON text on both databases
    active: Any
    user_name: str
    display_name: str | None
    staged_at: datetime  # when it was staged or last changed (directory_user.updated_at)
    member_id: None = None
    member_email: None = None
    member_name: None = None
    member_status: None = None
    member_source: None = None


class ManualRow(NamedTuple):
    """A manual member, as the report shows it."""

    id: str
    email: str | None
    name: str
    status: str


class InSyncRow(NamedTuple):
    """A provisioned member synced from its staged user's current version and this
    mapping, with that user's document."""

    id: str
    email: str | None
    name: str
    status: str
    source: str
    directory_user_id: str
    doc: str
    active: Any
    user_name: str
    display_name: str | None


class FinishedRun(NamedTuple):
    """The newest run that applied (or tried to apply) changes."""

    id: int
    status: str
    started_at: datetime  # when it began applying: a confirmed held run's confirmation
    detail: str | None


def serial_reads(conn: Connection) -> None:
    """PostgreSQL: no parallel workers for the rest of this transaction. Its planner gives
    a keyset batch (`LIMIT 500` of an account's members) two workers once the account is
    large, and starting them costs more than the batch: 50 ms a batch instead of 13 ms
    at 100,000 members, 200 batches per report."""
    if driver.is_pg(conn):
        driver.execute(conn, "SET LOCAL max_parallel_workers_per_gather = 0")


def _doc(conn: Connection) -> str:
    """The document column as JSON text on both databases (see sync_batches.staged_batch)."""
    return "CAST(du.doc AS TEXT)" if driver.is_pg(conn) else "du.doc"


def unsynced_batch(conn: Connection, account_id: int, after: str, limit: int) -> list[UnsyncedRow]:
    """Staged users that no member is linked to, in id order from `after` on."""
    rows = driver.execute(
        conn,
        f"SELECT du.id, {_doc(conn)}, du.active, du.user_name, du.display_name, du.updated_at "
        "FROM directory_user du WHERE du.account_id = ? AND du.id > ? AND NOT EXISTS "
        "(SELECT 1 FROM member m WHERE m.account_id = du.account_id "
        "AND m.directory_user_id = du.id) ORDER BY du.id LIMIT ?",
        (account_id, after, limit),
    ).fetchall()
    return [UnsyncedRow(*r[:5], driver.from_db_time(r[5])) for r in rows]


def count_unsynced(conn: Connection, account_id: int) -> int:
    """How many staged users no member is linked to."""
    row = driver.execute(
        conn,
        "SELECT COUNT(*) FROM directory_user du WHERE du.account_id = ? AND NOT EXISTS "
        "(SELECT 1 FROM member m WHERE m.account_id = du.account_id "
        "AND m.directory_user_id = du.id)",
        (account_id,),
    ).fetchone()
    return int(row[0])


# A manual member has a counterpart when a staged user has its e-mail as an address or as
# its userName (both lower-cased keys, both indexed).
_UNMATCHED_MANUAL = (
    f"FROM member m WHERE m.account_id = ? AND m.source = '{MemberSource.MANUAL}' "
    "AND (m.email_key IS NULL OR ("
    "NOT EXISTS (SELECT 1 FROM directory_user du WHERE du.account_id = m.account_id "
    "AND du.user_name_key = m.email_key) "
    "AND NOT EXISTS (SELECT 1 FROM directory_user_email e WHERE e.account_id = m.account_id "
    "AND e.value_key = m.email_key)))"
)


def unmatched_manual_batch(
    conn: Connection, account_id: int, after: str, limit: int
) -> list[ManualRow]:
    """Manual members no staged user has the e-mail of, in id order from `after` on."""
    rows = driver.execute(
        conn,
        "SELECT m.id, m.email, m.name, m.status "
        f"{_UNMATCHED_MANUAL} AND m.id > ? ORDER BY m.id LIMIT ?",
        (account_id, after, limit),
    ).fetchall()
    return [ManualRow(*r) for r in rows]


def count_unmatched_manual(conn: Connection, account_id: int) -> int:
    """How many manual members no staged user has the e-mail of."""
    row = driver.execute(conn, f"SELECT COUNT(*) {_UNMATCHED_MANUAL}", (account_id,)).fetchone()
    return int(row[0])


def in_sync_batch(
    conn: Connection, account_id: int, rev: int, after: str, limit: int
) -> list[InSyncRow]:
    """Provisioned members whose staged user has not changed since they were synced from
    it under this mapping revision, in member id order from `after` on."""
    rows = driver.execute(
        conn,
        "SELECT m.id, m.email, m.name, m.status, m.source, du.id, "
        f"{_doc(conn)}, du.active, du.user_name, du.display_name "
        "FROM member m JOIN directory_user du "
        "ON du.account_id = m.account_id AND du.id = m.directory_user_id "
        f"WHERE m.account_id = ? AND m.id > ? AND m.source = '{MemberSource.SCIM}' "
        "AND m.synced_version = du.version AND m.synced_rev = ? ORDER BY m.id LIMIT ?",
        (account_id, after, rev, limit),
    ).fetchall()
    return [InSyncRow(*r) for r in rows]


def values_between(
    conn: Connection, account_id: int, member_ids: Sequence[str]
) -> dict[str, dict[str, tuple[Any, str]]]:
    """Property values of these members (in id order, as a batch of in_sync_batch is),
    member id -> property id -> (value, source): read as one range of the primary key,
    from the first id to the last, keeping only theirs (rows streamed, not held), instead
    of a list of ids that PostgreSQL reads by scanning the table. PostgreSQL hands the
    values over as text, parsed with orjson (as staged_batch does its documents)."""
    if not member_ids:
        return {}
    pg = driver.is_pg(conn)
    cursor = driver.execute(
        conn,
        f"SELECT member_id, property_id, {'CAST(value AS TEXT)' if pg else 'value'}, source "
        "FROM property_value WHERE account_id = ? AND member_id >= ? AND member_id <= ?",
        (account_id, member_ids[0], member_ids[-1]),
    )
    out: dict[str, dict[str, tuple[Any, str]]] = {m: {} for m in member_ids}
    load = driver.load_json if pg else partial(driver.load_value, conn)
    for member_id, prop_id, raw, source in cursor:
        held = out.get(member_id)
        if held is not None:
            held[prop_id] = (load(raw), source)
    return out


def last_finished_run(conn: Connection, account_id: int) -> FinishedRun | None:
    """The newest run that succeeded or failed (planned and held runs wrote nothing)."""
    row = driver.execute(
        conn,
        "SELECT id, status, COALESCE(confirmed_at, started_at, created_at), detail "
        "FROM sync_run WHERE account_id = ? "
        f"AND status IN ('{RunStatus.SUCCEEDED}', '{RunStatus.FAILED}') ORDER BY id DESC LIMIT 1",
        (account_id,),
    ).fetchone()
    if row is None:
        return None
    return FinishedRun(row[0], row[1], driver.from_db_time(row[2]), row[3])


def run_errors(
    conn: Connection, account_id: int, run_id: int, directory_ids: Sequence[str]
) -> dict[str, str]:
    """The error a run recorded for each of these directory users (if it recorded one)."""
    rows = select_in(
        conn,
        f"SELECT directory_id, error FROM sync_item WHERE account_id = ? AND run_id = {int(run_id)} "
        "AND kind = 'member' AND error IS NOT NULL AND directory_id IN ({keys})",
        account_id,
        directory_ids,
    )
    return {r[0]: r[1] for r in rows}

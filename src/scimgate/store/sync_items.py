"""SQL for the items of sync runs: what happened to each member and team, written per
batch and read back filtered and paged."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, or_, select

from scimgate.states import ItemAction, ItemFilter
from scimgate.store import driver
from scimgate.store.bulk import insert_rows
from scimgate.store.tables.sync import sync_item

# What an admin filters a run's items by (sync_item.action values per filter).
ITEM_ACTIONS: dict[str, tuple[ItemAction, ...]] = {
    ItemFilter.CREATED: (ItemAction.CREATE,),
    ItemFilter.UPDATED: (ItemAction.UPDATE, ItemAction.RENAME),
    ItemFilter.DEACTIVATED: (ItemAction.DEACTIVATE, ItemAction.REMOVE),
    ItemFilter.REACTIVATED: (ItemAction.REACTIVATE,),
}


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
                driver.dump_json(i.get("changes") or {}),
                i.get("error"),
            )
            for i in items
        ],
    )


def delete_items(conn: Connection, account_id: int, run_id: int) -> None:
    """Every item of one run (a held run's plan, once it is confirmed)."""
    driver.execute(
        conn, "DELETE FROM sync_item WHERE account_id = ? AND run_id = ?", (account_id, run_id)
    )


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

"""Pages of members, teams and Properties for the console and the API: sort orders and cursors.

A cursor is what the previous page handed out, nothing else: in id order it is the last
row's id (a UUID); in another order an opaque token naming the order and the last row's
sort key. Anything else is refused (InvalidValueError), never read as "start somewhere".
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from sqlalchemy import Connection

from scimgate.errors import InvalidValueError, NotFoundError
from scimgate.members import service
from scimgate.store import members as store
from scimgate.store import teams as team_store

SORTS = ("name", "email", "status")  # and their descending forms, "-name"...
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_BAD_CURSOR = "cursor is not a next_cursor this list gave: start again without it"


def parse_sort(sort: str | None) -> tuple[str, bool]:
    """`name`, `-name`, ... (or nothing: id order) to (column, descending)."""
    text = (sort or "").strip()
    column = text.removeprefix("-")
    if not text:
        return "id", False
    if column not in SORTS:
        raise InvalidValueError(
            f"sort is one of {', '.join(SORTS)} (prefix - for descending), not {text[:40]!r}"
        )
    return column, text.startswith("-")


def id_cursor(cursor: str | None) -> str | None:
    """The id a page of an id-ordered list continues after."""
    if not cursor:
        return None
    if not _UUID.match(cursor):
        raise InvalidValueError(_BAD_CURSOR)
    return cursor


def pack_cursor(values: list[Any]) -> str:
    """JSON values as an opaque cursor (URL-safe base64 of compact JSON); the snapshot's too."""
    text = json.dumps(values, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def unpack_cursor(cursor: str, bad: str) -> Any:
    """What pack_cursor packed (its shape is the caller's to check), else InvalidValueError(bad)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return json.loads(raw.decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidValueError(bad) from None


def _encode(sort: str, key: list[Any]) -> str:
    return pack_cursor([sort, *key])


def _decode(cursor: str, sort: str, arity: int) -> list[str]:
    """The sort key in a cursor made for this sort order, or InvalidValueError."""
    value = unpack_cursor(cursor, _BAD_CURSOR)
    if (
        not isinstance(value, list)
        or len(value) != arity + 1
        or value[0] != sort
        or not all(isinstance(v, str) and "\x00" not in v for v in value[1:])
    ):
        raise InvalidValueError(_BAD_CURSOR)
    if not _UUID.match(value[-1]):
        raise InvalidValueError(_BAD_CURSOR)
    return value[1:]


def member_page(
    conn: Connection,
    account_id: int,
    *,
    sort: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
    status: str | None = None,
    source: str | None = None,
    search: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of members (documents) and the cursor of the next page (None at the end)."""
    column, descending = parse_sort(sort)
    service.check_filters(status, source)
    arity = len(store.sort_columns(column))
    label = ("-" if descending else "") + column
    if column == "id":
        after: Any = id_cursor(cursor)
    else:
        after = _decode(cursor, label, arity) if cursor else None
    rows = store.list_members(
        conn,
        account_id,
        status=status,
        source=source,
        search=search or None,
        after=after,
        limit=limit + 1,
        sort=column,
        descending=descending,
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = last["id"] if column == "id" else _encode(label, last["sort_key"])
    return service.documents_of(conn, account_id, rows), next_cursor


def _id_page(rows: list[dict[str, Any]], limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """`limit + 1` rows read in id order to a page and the id to continue after."""
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1]["id"]
    return rows, None


def team_page(
    conn: Connection,
    account_id: int,
    *,
    search: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], str | None]:
    """Teams in id order with member counts, a page at a time."""
    rows = team_store.team_page(
        conn, account_id, search=search or None, after=id_cursor(cursor), limit=limit + 1
    )
    return _id_page(rows, limit)


def get_team(conn: Connection, account_id: int, team_id: str) -> dict[str, Any]:
    """One team with its member count, or NotFoundError."""
    found = team_store.team_page(conn, account_id, after=None, limit=1, team_id=team_id[:64])
    if not found:
        raise NotFoundError(f"No team {team_id!r}")
    return found[0]


def team_member_page(
    conn: Connection, account_id: int, team_id: str, *, cursor: str | None = None, limit: int = 100
) -> tuple[list[dict[str, Any]], str | None]:
    """The members of one team in id order, a page at a time."""
    team = get_team(conn, account_id, team_id)
    rows = team_store.team_member_page(
        conn, account_id, team["id"], after=id_cursor(cursor), limit=limit + 1
    )
    return _id_page(rows, limit)


def property_page(
    conn: Connection, account_id: int, *, cursor: str | None = None, limit: int = 100
) -> tuple[list[dict[str, Any]], str | None]:
    """Properties in id order with what fills them, a page at a time."""
    after = id_cursor(cursor)
    rows = sorted(service.list_properties(conn, account_id), key=lambda p: p["id"])
    if after:
        rows = [p for p in rows if p["id"] > after]
    return _id_page(rows[: limit + 1], limit)


def teams_with_counts(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    """Every team by name with its member count (the CLI's list: one line each)."""
    rows = team_store.team_page(conn, account_id, after=None, limit=1_000_000)
    return sorted(rows, key=lambda t: (t["name"].lower(), t["id"]))


def find_team(conn: Connection, account_id: int, ref: str) -> dict[str, Any]:
    """A team by id or by case-insensitive name; a name two teams share is refused."""
    ref = (ref or "").strip()
    if _UUID.match(ref):
        found = team_store.team_page(conn, account_id, after=None, limit=1, team_id=ref)
        if found:
            return found[0]
    named = [t for t in teams_with_counts(conn, account_id) if t["name"].lower() == ref.lower()]
    if not named:
        raise NotFoundError(f"No team {ref!r}")
    if len(named) > 1:
        raise InvalidValueError(
            f"{len(named)} teams are named {ref!r}: name one by its id "
            f"({', '.join(t['id'] for t in named)})"
        )
    return named[0]


def all_team_members(conn: Connection, account_id: int, team_id: str) -> list[dict[str, Any]]:
    """Every member of one team, by email."""
    rows: list[dict[str, Any]] = []
    after = None
    while True:
        batch = team_store.team_member_page(conn, account_id, team_id, after=after, limit=1000)
        rows.extend(batch)
        if len(batch) < 1000:
            break
        after = batch[-1]["id"]
    return sorted(rows, key=lambda m: ((m["email"] or "").lower(), m["name"].lower()))

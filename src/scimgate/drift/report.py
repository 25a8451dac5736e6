"""The drift report of one account: its four sections, counted and paged.

- `unsynced`: staged users no member mirrors, and why (drift.unsynced);
- `manual`: manual members no staged user has the e-mail of (as an address or userName);
- `edited`: provisioned members changed by hand since their last sync (drift.edited);
- `unfilled`: Properties the mapping never fills (drift.unfilled).

Every section but `unfilled` (one row per Property) is read in keyset batches: a page
stops once it has its rows, and a count holds one batch in memory at a time. Pages follow
the /api/v1 lists: rows in key order, and the key to continue after (None at the end).
A page can also be bounded by the rows it looks at (`scan`): `edited` looks at every
in-sync member to find the few changed by hand, so a full page of a large account with
few edits would read all of it; the console's pages stop after `scan` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

from sqlalchemy import Connection

from scimgate.drift.edited import Edited
from scimgate.drift.unfilled import unfilled
from scimgate.drift.unsynced import Unsynced
from scimgate.errors import InvalidValueError, NotFoundError
from scimgate.group_rules import service as group_rules
from scimgate.mapping.service import load_mapper
from scimgate.members.listing import id_cursor
from scimgate.store import drift as store
from scimgate.store import members as member_store
from scimgate.store import sync_runs

SECTIONS = ("unsynced", "manual", "edited", "unfilled")
KEYS = {"unsynced": "directory_user_id", "manual": "member_id", "edited": "member_id"}
KEYS["unfilled"] = "property_id"  # each section's key: what its cursor continues after
BATCH = 500  # rows read per statement
MAX_LIMIT = 200  # rows a page (or a summary's section) may ask for
# Rows a page of `edited` looks at, at most (the console's and /api/v1's): it maps every
# in-sync member to find the few changed by hand, so a page stops after these (4 batches,
# about 0.6 s) and its cursor goes on from the last one looked at.
PAGE_SCAN = 2_000

Keyed = Iterator[tuple[str, dict[str, Any]]]
Scanned = Iterator[tuple[str, dict[str, Any] | None]]  # every row looked at; None: no drift


class Drift:
    """One account's report, with the mapping and the last run loaded once."""

    def __init__(self, conn: Connection, account_id: int, *, batch: int = BATCH) -> None:
        settings = sync_runs.run_settings(conn, account_id)
        if settings is None:
            raise NotFoundError(f"No account {account_id}")
        self.conn, self.account_id, self.batch = conn, account_id, batch
        store.serial_reads(conn)
        self.mapper = load_mapper(conn, account_id)
        self.properties = member_store.list_properties(conn, account_id)
        names = {p["id"]: p["name"] for p in self.properties}
        last_run = store.last_finished_run(conn, account_id)
        self.unsynced = Unsynced(account_id, self.mapper, last_run)
        self.rules = group_rules.load_rules(conn, account_id)
        moved = frozenset(group_rules.outcomes_moved(conn, account_id, self.rules))
        self.edited = Edited(
            account_id, settings.mapping_rev, self.mapper, names, self.rules, moved
        )
        self.last_run_id = last_run.id if last_run else None

    def rows(self, section: str, after: str = "") -> Keyed:
        """(key, item) of one section in key order, from `after` on."""
        if section == "edited":
            return _found(self.scan(section, after))
        conn, batch = self.conn, self.batch
        if section == "unsynced":
            return self.unsynced.items(conn, after, batch)
        if section == "manual":
            return self._manual(after)
        if section == "unfilled":
            rows = [  # a Property group rules set is filled for their groups' members
                r
                for r in unfilled(conn, self.account_id, self.mapper, self.properties)
                if r["property_id"] not in self.rules.property_ids
            ]
            keyed = [(r["property_id"], r) for r in rows]
            if after:
                keys = [k for k, _r in keyed]
                keyed = keyed[keys.index(after) + 1 :] if after in keys else []
            return iter(keyed)
        raise InvalidValueError(f"section: one of {', '.join(SECTIONS)}")

    def scan(self, section: str, after: str = "") -> Scanned:
        """Every row a section looks at, in key order from `after` on: those of `edited`
        with no hand edit come with None; every other section's rows are all drift."""
        if section == "edited":
            return self.edited.scan(self.conn, after, self.batch)
        return self.rows(section, after)

    def page(
        self, section: str, *, cursor: str | None = None, limit: int = 50, scan: int | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a section and the cursor of the next (None at the end): `limit`
        rows, or (with `scan`) those found among the next `scan` rows looked at."""
        check_section(section)
        after = id_cursor(cursor) or ""
        if scan is None:
            return _page(self.rows(section, after), limit)
        return _scan_page(self.scan(section, after), limit, scan)

    def count(self, section: str) -> int:
        """How many rows a section has (indexed counts where SQL can say)."""
        if section == "unsynced":
            return store.count_unsynced(self.conn, self.account_id)
        if section == "manual":
            return store.count_unmatched_manual(self.conn, self.account_id)
        return sum(1 for _ in self.rows(section))

    def summary(self, *, limit: int = 20) -> dict[str, Any]:
        """Every section's count and first `limit` rows, with the cursor of its next page."""
        sections: dict[str, Any] = {}
        for section in SECTIONS:
            if section in ("unsynced", "manual"):
                data, next_cursor = self.page(section, limit=limit)
                count = self.count(section) if next_cursor else len(data)
            else:
                count, data, next_cursor = _count_and_first(self.rows(section), limit)
            sections[section] = {"count": count, "data": data, "next_cursor": next_cursor}
        return {"last_run_id": self.last_run_id, "sections": sections}

    def _manual(self, after: str) -> Keyed:
        def read(key: str) -> list[Any]:
            return store.unmatched_manual_batch(self.conn, self.account_id, key, self.batch)

        for row in _keyset(read, lambda r: r.id, after, self.batch):
            yield (
                row.id,
                {
                    "member_id": row.id,
                    "email": row.email,
                    "name": row.name,
                    "status": row.status,
                },
            )


def check_section(section: str) -> str:
    """A section name, or InvalidValueError naming the ones there are."""
    if section not in SECTIONS:
        raise InvalidValueError(f"section: one of {', '.join(SECTIONS)}")
    return section


def summary(conn: Connection, account_id: int, *, limit: int = 20) -> dict[str, Any]:
    """The account's drift report: each section's count and first rows."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidValueError(f"limit is 1-{MAX_LIMIT}")
    return Drift(conn, account_id).summary(limit=limit)


def trim(doc: dict[str, Any], limit: int) -> dict[str, Any]:
    """A summary with at most `limit` rows a section, each cursor going on after its last
    row kept (a summary of more rows, cut: what a cached one serves a smaller ask with)."""
    sections = {}
    for name, body in doc["sections"].items():
        data, key = body["data"], KEYS[name]
        cut = len(data) > limit
        sections[name] = (
            {**body, "data": data[:limit], "next_cursor": data[limit - 1][key]} if cut else body
        )
    return {**doc, "sections": sections}


def section_page(
    conn: Connection,
    account_id: int,
    section: str,
    *,
    cursor: str | None = None,
    limit: int = 50,
    scan: int | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of one section of the account's drift report; with `scan`, the rows found
    among the next `scan` looked at (a page that may be short, even empty, before the end)."""
    check_section(section)
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidValueError(f"limit is 1-{MAX_LIMIT}")
    if scan is not None and scan < limit:
        raise InvalidValueError("scan is at least limit")
    return Drift(conn, account_id).page(section, cursor=cursor, limit=limit, scan=scan)


def every_row(conn: Connection, account_id: int, section: str) -> Iterator[dict[str, Any]]:
    """Every row of one section, streamed (the CLI prints them as they come)."""
    check_section(section)
    return (item for _key, item in Drift(conn, account_id).rows(section))


def _keyset(
    read: Callable[[str], list[Any]], key: Callable[[Any], str], after: str, size: int
) -> Iterator[Any]:
    """Rows of `read(after)` batch after batch until a short one (of fewer than `size`)."""
    while True:
        rows = read(after)
        yield from rows
        if len(rows) < size:
            return
        after = key(rows[-1])


def _page(rows: Keyed, limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """`limit + 1` keyed rows to a page and the key to continue after."""
    got = list(islice(rows, limit + 1))
    if len(got) > limit:
        return [item for _k, item in got[:limit]], got[limit - 1][0]
    return [item for _k, item in got], None


def _scan_page(scanned: Scanned, limit: int, scan: int) -> tuple[list[dict[str, Any]], str | None]:
    """Up to `limit` rows found among at most `scan` looked at, and the key to continue
    after: the last row shown, or the last looked at when `scan` ran out first."""
    found: list[tuple[str, dict[str, Any]]] = []
    for looked, (key, item) in enumerate(scanned, 1):
        if item is not None:
            if len(found) == limit:
                return [i for _k, i in found], found[-1][0]
            found.append((key, item))
        if looked == scan:
            return [i for _k, i in found], key
    return [i for _k, i in found], None


def _found(scanned: Scanned) -> Keyed:
    """The rows of a scan that are drift."""
    for key, item in scanned:
        if item is not None:
            yield key, item


def _count_and_first(
    rows: Iterable[tuple[str, Any]], limit: int
) -> tuple[int, list[Any], str | None]:
    """Count every row, keeping the first `limit` and the cursor after them."""
    first: list[tuple[str, Any]] = []
    count = 0
    for keyed in rows:
        count += 1
        if count <= limit:
            first.append(keyed)
    next_cursor = first[-1][0] if count > limit else None
    return count, [item for _k, item in first], next_cursor

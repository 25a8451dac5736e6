"""Remembered positions in an account's id order, so a list page need not skip rows.

Why: `startIndex=500001` as `OFFSET 500000` walks half a million index entries (88 ms
on PostgreSQL, 45 ms on SQLite at 1,000,000 users), and an import that pages through
every user (Okta's does) pays that for each page: quadratic in the directory. Each page
served leaves a mark, "the id at position p is X"; the next page starts from the
nearest mark at or before it (`id > X`, skipping only the rest), which for in-order
paging is the mark the previous page left.

A mark is valid only while no User (or Group) of the account has been inserted or
deleted: `directory_count.changes` counts those, in the same transaction as each one,
and is read after the page. When it has moved, the marks go and the page is recomputed
from the start of the order. Marks live in the process (several workers each learn
their own) and per database engine, bounded in accounts and in marks per account.
"""

from __future__ import annotations

import bisect
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field

from sqlalchemy import Engine

MAX_ACCOUNTS = 256
MAX_MARKS = 4096


@dataclass
class _Marks:
    """Sorted positions and the id at each, for one generation of an account's rows."""

    changes: int
    positions: list[int] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)


class PageMarks:
    """Marks of every (account, kind) one engine has served, least recently used first out."""

    def __init__(self, max_accounts: int = MAX_ACCOUNTS, max_marks: int = MAX_MARKS) -> None:
        self._lock = threading.Lock()
        self._marks: OrderedDict[tuple[int, str], _Marks] = OrderedDict()
        self._max_accounts = max_accounts
        self._max_marks = max_marks

    def nearest(self, account_id: int, kind: str, offset: int) -> tuple[int, int, str] | None:
        """(changes, position, id) of the last mark at or before `offset`, if any."""
        with self._lock:
            marks = self._marks.get((account_id, kind))
            if marks is None:
                return None
            self._marks.move_to_end((account_id, kind))
            at = bisect.bisect_right(marks.positions, offset) - 1
            if at < 0:
                return None
            return marks.changes, marks.positions[at], marks.ids[at]

    def remember(self, account_id: int, kind: str, changes: int, position: int, id_: str) -> None:
        """The id at `position` (rows before it, counted from 1) while `changes` holds."""
        with self._lock:
            key = (account_id, kind)
            marks = self._marks.get(key)
            if marks is None or marks.changes != changes:
                marks = self._marks[key] = _Marks(changes)
            self._marks.move_to_end(key)
            at = bisect.bisect_left(marks.positions, position)
            if at < len(marks.positions) and marks.positions[at] == position:
                return
            if len(marks.positions) >= self._max_marks:
                del marks.positions[::2], marks.ids[::2]  # keep every other: still spread out
                at = bisect.bisect_left(marks.positions, position)
            marks.positions.insert(at, position)
            marks.ids.insert(at, id_)
            while len(self._marks) > self._max_accounts:
                self._marks.popitem(last=False)

    def forget(self, account_id: int, kind: str) -> None:
        """Drop an account's marks (they belong to a generation that has passed)."""
        with self._lock:
            self._marks.pop((account_id, kind), None)


_BY_ENGINE: weakref.WeakKeyDictionary[Engine, PageMarks] = weakref.WeakKeyDictionary()
_BY_ENGINE_LOCK = threading.Lock()


def marks_for(engine: Engine) -> PageMarks:
    """The marks of one database (two engines on two databases never share marks)."""
    with _BY_ENGINE_LOCK:
        marks = _BY_ENGINE.get(engine)
        if marks is None:
            marks = _BY_ENGINE[engine] = PageMarks()
        return marks

"""Per-process evidence of who calls /scim/v2, and the cached answer to "who is this account's
identity provider?" that a PATCH asks.

`HabitCounts.note` runs on the request path: no I/O, a dict update under a lock. The counts
are added to the database with the request log's flush (web/request_log.py), about once a
second, in one transaction for every account. `ClientProfiles` keeps each account's guessed
identity provider for `ttl` seconds; when it expires the next PATCH of that account reads
the profile again in its own transaction (a handful of rows), which is how a guess that
another server process changed reaches this one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from scimgate.errors import StorageError
from scimgate.provisioning import idp_profile
from scimgate.scim.client_habits import HABITS

log = logging.getLogger("scimgate.client_habits")

_MAX_KEYS = 50_000  # (account, habit) pairs held between flushes; beyond, new ones wait
_SAMPLE_CHARS = 200


class HabitCounts:
    """Habit counts per (account, habit) since the last flush, with first/last seen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[int, str], list[Any]] = {}  # [count, first, last, sample]
        self._written: set[tuple[int, str]] = set()  # pairs this process has written before
        self.dropped_total = 0
        # Told the accounts that showed a habit new to this process: their guess may change.
        self.on_new_habits: Callable[[set[int]], None] | None = None

    def note(
        self, account_id: int, habits: tuple[str, ...], at: datetime, user_agent: str | None
    ) -> None:
        """Count one request's habits (request path: no I/O, never raises)."""
        if not habits:
            return
        with self._lock:
            for code in habits:
                key = (account_id, code)
                entry = self._counts.get(key)
                if entry is None:
                    if len(self._counts) >= _MAX_KEYS:
                        self.dropped_total += 1
                        continue
                    sample = user_agent if HABITS[code].weight >= 10 else None
                    self._counts[key] = [1, at, at, sample]
                else:
                    entry[0] += 1
                    entry[2] = at
                    if entry[3] is not None and user_agent:
                        entry[3] = user_agent

    def flush(self, engine: Engine) -> int:
        """Add what was counted to the database; on failure keep it for the next flush.
        Returns how many (account, habit) rows were written."""
        with self._lock:
            taken, self._counts = self._counts, {}
        if not taken:
            return 0
        rows = [
            {
                "account_id": account_id,
                "habit": code,
                "count": count,
                "first_seen": first,
                "last_seen": last,
                "sample": _clean(sample),
            }
            for (account_id, code), (count, first, last, sample) in taken.items()
        ]
        try:
            idp_profile.add_counts(engine, rows)
        except StorageError:
            self._give_back(taken)
            raise
        fresh = taken.keys() - self._written
        if len(self._written) + len(fresh) > _MAX_KEYS:
            self._written.clear()
        self._written |= fresh
        if fresh and self.on_new_habits is not None:
            self.on_new_habits({account_id for account_id, _ in fresh})
        return len(rows)

    def _give_back(self, taken: dict[tuple[int, str], list[Any]]) -> None:
        """Counts a failed write took, merged back under newer ones."""
        with self._lock:
            for key, (count, first, last, sample) in taken.items():
                entry = self._counts.get(key)
                if entry is None:
                    self._counts[key] = [count, first, last, sample]
                else:
                    entry[0] += count
                    entry[1] = min(entry[1], first)


def _clean(sample: str | None) -> str | None:
    """A User-Agent as stored: printable, cut to its column."""
    if not sample:
        return None
    text = "".join(c if c.isprintable() else "?" for c in sample[:_SAMPLE_CHARS])
    return text.encode("utf-8", "replace").decode("utf-8")


class ClientProfiles:
    """Each account's guessed identity provider, kept `ttl` seconds per process."""

    def __init__(self, ttl: float = 30.0, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._lock = threading.Lock()
        self._known: dict[int, tuple[float, str | None]] = {}

    def client(self, conn: Connection, account_id: int) -> str | None:
        """The account's identity provider (None when unknown or only a faint guess)."""
        now = time.monotonic()
        found = self._known.get(account_id)
        if found is not None and found[0] > now:
            return found[1]
        idp = idp_profile.profile(conn, account_id).decisive_idp
        with self._lock:
            if len(self._known) >= self.size:
                self._known.clear()
            self._known[account_id] = (now + self.ttl, idp)
        return idp

    def forget(self, account_ids: set[int]) -> None:
        """Read these accounts again next time (they showed a habit new to this process)."""
        with self._lock:
            for account_id in account_ids:
                self._known.pop(account_id, None)

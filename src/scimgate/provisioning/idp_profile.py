"""An account's identity-provider profile: which IdP calls /scim/v2 and with which habits.

The habits are counted in memory by each server process (web/client_habits.py) and added
here in batches with the request log's flush; the profile is guessed from them by
scim/client_profile.py (pure).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from scimgate.scim.client_habits import HABITS
from scimgate.scim.client_profile import HabitSeen, Profile, guess
from scimgate.store import client_habits as habit_rows
from scimgate.timestamps import as_utc, iso_utc


def profile(conn: Connection, account_id: int) -> Profile:
    """The account's profile from its recorded habits (one small read)."""
    seen = [
        HabitSeen(
            code=r["habit"],
            count=int(r["count"]),
            first_seen=as_utc(r["first_seen"]),
            last_seen=as_utc(r["last_seen"]),
            sample=r["sample"],
        )
        for r in habit_rows.habits_of(conn, account_id)
        if r["habit"] in HABITS
    ]
    return guess(seen)


def add_counts(engine: Engine, rows: Sequence[dict[str, Any]]) -> None:
    """Add one batch of counts from a server process (a StorageError when the database is away)."""
    habit_rows.add_counts(engine, rows)


def as_document(found: Profile) -> dict[str, Any]:
    """The profile as /api/v1 and `--json` write it."""
    return {
        "idp": found.idp,
        "idp_name": found.idp_name,
        "headline": found.headline,
        "confidence": found.confidence,
        "since": _iso(found.since),
        "entra_flag": found.entra_flag,
        "user_agent": found.user_agent,
        "habits": [
            {
                "code": h.code,
                "label": HABITS[h.code].label,
                "handling": HABITS[h.code].handling,
                "idp": HABITS[h.code].idp,
                "count": h.count,
                "first_seen": _iso(h.first_seen),
                "last_seen": _iso(h.last_seen),
            }
            for h in found.habits
        ],
    }


def _iso(value: datetime | None) -> str | None:
    return iso_utc(value) if value is not None else None

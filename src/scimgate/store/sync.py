"""The sync store functions other packages and tests import from here, by their old names.

Synchronize's SQL lives in modules named after what they provide: sync_runs (the run
row and its lease), sync_items, sync_batches (the keyset reads comparing staging with
members), sync_members, sync_teams, sync_deferred, sync_counts and schedule.
"""

from __future__ import annotations

from scimgate.store.sync_batches import select_in
from scimgate.store.sync_items import count_items, insert_items, list_items
from scimgate.store.sync_runs import get_run, insert_run, list_runs, running_run, set_run

__all__ = [
    "count_items",
    "get_run",
    "insert_items",
    "insert_run",
    "list_items",
    "list_runs",
    "running_run",
    "select_in",
    "set_run",
]

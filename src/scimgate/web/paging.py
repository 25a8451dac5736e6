"""Keyset pages for the console and the API: ask the store for one row more than shown."""

from __future__ import annotations

from typing import Any


def keyset_page(rows: list[dict[str, Any]], size: int) -> tuple[list[dict[str, Any]], Any]:
    """The rows to show and the key to continue after (None on the last page), from
    `size + 1` rows read in key order."""
    if len(rows) > size:
        return rows[:size], rows[size - 1]["id"]
    return rows, None

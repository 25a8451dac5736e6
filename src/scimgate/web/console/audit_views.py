"""The audit log: who changed the account's configuration, newest first."""

from __future__ import annotations

from scimgate import audit
from scimgate.errors import InvalidValueError
from scimgate.web.console.endpoint import Ctx, Page

PAGE_SIZE = 50


def entries(ctx: Ctx) -> Page:
    """A page of entries, newest first; a cursor we did not hand out starts from the newest."""
    cursor = ctx.arg("cursor") or None
    try:
        rows, next_cursor = audit.list_page(
            ctx.conn, ctx.account_id, cursor=cursor, limit=PAGE_SIZE
        )
    except InvalidValueError:
        cursor = None
        rows, next_cursor = audit.list_page(ctx.conn, ctx.account_id, limit=PAGE_SIZE)
    return Page(
        "audit.html",
        {"rows": rows, "next_cursor": next_cursor, "first_page": cursor is None},
    )

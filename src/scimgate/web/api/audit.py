"""/audit-log: who changed the account's configuration."""

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from scimgate import audit
from scimgate.web.api.deps import Caller, Context
from scimgate.web.api.fields import Cursor, Limit, Time
from scimgate.web.api.problems import EVERY_ROUTE

router = APIRouter(tags=["audit"], responses=EVERY_ROUTE)


class AuditEntry(BaseModel):
    id: int = Field(description="numbered per account; newer entries have higher ids")
    at: Time
    actor: str = Field(
        description="an admin's email, cli:<OS user>, apikey:<prefix> (name), or daily sync"
    )
    action: str = Field(description="e.g. api_key.created, mapping.set, sync_run.confirmed")
    target: str = Field(description="what was changed, for people")
    details: dict[str, Any] = Field(description="ids, names and {field: [old, new]} changes")


class AuditPage(BaseModel):
    data: list[AuditEntry]
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next (older) page; null at the end"
    )


@router.get("/audit-log", response_model=AuditPage)
def list_audit_log(
    who: Caller, ctx: Context, cursor: Cursor = None, limit: Limit = 50
) -> dict[str, Any]:
    """Who changed the account's configuration, newest first (each entry is also an
    `audit.recorded` event). A cursor this list did not hand out is a 400."""
    with ctx.transaction() as conn:
        rows, next_cursor = audit.list_page(conn, who.account_id, cursor=cursor, limit=limit)
    return {"data": rows, "next_cursor": next_cursor}

"""The audit log: who changed an account's configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from scimgate.cli.core import command, print_account_rows

if TYPE_CHECKING:
    from scimgate.database_service import Connection
from scimgate.timestamps import as_utc

app = typer.Typer()


@command(app, "audit-log")
def audit_log(
    ctx: typer.Context,
    slug: str,
    limit: int = typer.Option(50, min=1, max=10_000, help="How many entries."),
    cursor: str | None = typer.Option(
        None, "--cursor", help="Continue after this entry id (the last one you saw)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON array."),
) -> None:
    """Who changed the account's configuration, newest first."""
    from scimgate import audit

    def read(conn: Connection, account_id: int) -> list[dict[str, Any]]:
        return audit.list_page(conn, account_id, cursor=cursor, limit=limit)[0]

    print_account_rows(ctx, slug, read, _entry_line, as_json=as_json)


def _entry_line(r: dict[str, Any]) -> str:
    """One audit entry: id, time, actor, action, target and its details."""
    details = " ".join(f"{k}={_detail(v)}" for k, v in (r["details"] or {}).items())
    return (
        f"{r['id']:>6}  {as_utc(r['at']):%Y-%m-%d %H:%M:%S}  {r['actor']}  {r['action']}  "
        f"{r['target']}  {details}".rstrip()
    )


def _detail(value: Any) -> str:
    """One detail of an audit entry on one line (changes as old->new)."""
    if isinstance(value, dict):
        return ",".join(
            f"{k}:{_detail(v[0])}->{_detail(v[1])}"
            if isinstance(v, list) and len(v) == 2
            else f"{k}:{_detail(v)}"
            for k, v in value.items()
        )
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    return "-" if value is None or value == "" else str(value)

"""Synchronize staging into members and teams, and the history of sync runs."""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any

import typer

from scimgate.cli.core import (
    CliError,
    account_id_of,
    actor,
    command,
    engine,
    print_json,
    settings,
    transaction,
)
from scimgate.timestamps import as_utc

if TYPE_CHECKING:
    from scimgate.database_service import Connection
    from scimgate.sync.engine import RunResult

app = typer.Typer()


@command(app)
def sync(
    ctx: typer.Context,
    slug: str,
    dry_run: bool = typer.Option(False, "--dry-run", help="Plan only: write nothing."),
    confirm: int | None = typer.Option(None, "--confirm", help="Apply this held run."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
    limit: int | None = typer.Option(
        None,
        "--limit",
        min=1,
        max=200,
        help="With --dry-run: changes listed (default 20; --json: all the plan keeps, 200).",
    ),
) -> None:
    """Synchronize staging into members and teams (a big deactivation is held for confirmation).

    With --dry-run it lists the first changes with their notes (a group rule's value, a
    manager left empty); --json gives the plan as POST /api/v1/sync-runs {"dry_run": true}.
    """
    from scimgate.sync.engine import SyncBusyError, SyncOptions, synchronize

    config = settings(ctx)
    if dry_run and confirm is not None:
        raise CliError("--dry-run and --confirm do not go together")
    if limit is not None and not dry_run:
        raise CliError("--limit goes with --dry-run (the changes of a plan listed)")
    options = SyncOptions.from_settings(config)
    with engine(ctx) as opened:
        with opened.begin() as conn:  # a read: it does not wait for a busy writer
            account_id = account_id_of(conn, slug)
        gc.collect()
        gc.freeze()  # the imports live as long as the command: collections skip them
        try:
            result = synchronize(
                opened,
                account_id,
                trigger="cli",
                actor=actor(),
                dry_run=dry_run,
                confirm=confirm,
                options=options,
            )
        except SyncBusyError as exc:
            raise CliError(f"{exc} (try again when it has finished)") from None
    if as_json and dry_run:  # the run's keys, and the plan's as /api/v1 gives it
        plan = result.plan_json()
        plan["items"] = plan["items"][:limit]
        print_json({**result.as_json(), **plan})
    elif as_json:
        print_json(result.as_json())
    else:
        c = result.counts
        label = f"run {result.run_id}" if result.run_id else "plan"
        typer.echo(
            f"{label}: {result.status}: {c['created']} created, {c['updated']} updated, "
            f"{c['deactivated']} deactivated, {c['reactivated']} reactivated, "
            f"{c['unchanged']} unchanged, {c['errors']} errors; teams {c['teams_created']} created, "
            f"{c['teams_renamed']} renamed, {c['teams_removed']} removed; memberships "
            f"+{c['memberships_added']} -{c['memberships_removed']}"
        )
        if dry_run:
            _print_plan(slug, result, limit or 20, options.sample_items)
        if result.would_hold:
            typer.echo("applying this plan would be held by the safety threshold", err=True)
        if result.confirmed_by:
            typer.echo(f"confirmed by {result.confirmed_by}", err=True)
    if result.status == "held":
        typer.echo(
            f"{result.detail} Confirm with: scimgate sync {slug} --confirm {result.run_id}",
            err=True,
        )
    if result.status == "failed":
        raise typer.Exit(1)


@command(app, "sync-runs")
def sync_runs(
    ctx: typer.Context,
    slug: str,
    run: int | None = typer.Option(None, "--run", help="Show the items of this run."),
    errors: bool = typer.Option(False, "--errors", help="With --run: only items with an error."),
    show: str | None = typer.Option(
        None, "--show", help="With --run: only created, updated, deactivated, reactivated or error."
    ),
    search: str | None = typer.Option(
        None, "--search", help="With --run: items whose person or team matches (name, userName)."
    ),
    limit: int = typer.Option(20, min=1, max=10_000, help="How many runs or items."),
    offset: int = typer.Option(0, min=0, help="With --run: skip this many items."),
    every: bool = typer.Option(False, "--all", help="With --run: every item, however many."),
    before: int | None = typer.Option(
        None, "--before", min=1, help="Runs older than this run id (the next page)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON array."),
) -> None:
    """List sync runs (newest first), or the items of one run; says how to see the rest."""
    from scimgate.sync import history

    if errors:
        show = show or "error"
    more = ""
    with transaction(ctx) as conn:
        account_id = account_id_of(conn, slug)
        if run is not None:
            history.get_run(conn, account_id, run)
            rows, more = _run_items(conn, slug, account_id, run, show, search, limit, offset, every)
        else:
            cursor = str(before) if before is not None else None
            rows, next_cursor = history.run_page(conn, account_id, cursor=cursor, limit=limit)
            if next_cursor:
                more = f"older runs: scimgate sync-runs {slug} --before {next_cursor}"
    if as_json:
        print_json(rows)
    elif run is not None:
        for item in rows:
            typer.echo(_item_line(item))
    else:
        _print_runs(rows)
    if more:
        typer.echo(more, err=True)


def _item_line(item: dict[str, Any]) -> str:
    """One item of a run or a plan: seq, kind, action, who, field changes, error."""
    changes = ", ".join(f"{k}: {v[0]} -> {v[1]}" for k, v in (item["changes"] or {}).items())
    error = f"  ! {item['error']}" if item.get("error") else ""
    return (
        f"{item['seq']:>6} {item['kind']:<6} {item['action']:<10} {item['label'] or '-'}  "
        f"{changes}{error}"
    )


def _print_plan(slug: str, plan: RunResult, limit: int, kept: int) -> None:
    """A plan's first `limit` items, each with its notes, then how many more there are
    and where to see them (a plan keeps its first `kept` items; a run applies them all)."""
    items = plan.items
    for item in items[:limit]:
        typer.echo(_item_line(item))
        for note in item.get("notes") or []:
            typer.echo(f"{'':>6}   note: {note}")
    total = plan.items_total
    more = total - min(limit, len(items))
    if more <= 0:
        return
    if len(items) > limit:
        which = "them all" if total <= len(items) else f"the first {len(items)}"
        where = f"scimgate sync {slug} --dry-run --limit {len(items)} lists {which} (--json too)"
    else:
        where = f"a plan lists its first {kept}"
    if total > len(items):
        where += "; Synchronize applies every one"
    typer.echo(f"  … {more} more: {where}")


def _run_items(
    conn: Connection,
    slug: str,
    account_id: int,
    run: int,
    show: str | None,
    search: str | None,
    limit: int,
    offset: int,
    every: bool,
) -> tuple[list[dict[str, Any]], str]:
    """The items of a run asked for, and a line saying how to see the rest (if any)."""
    from scimgate.sync import history

    if every:
        rows, total = history.run_items(
            conn, account_id, run, show=show, search=search, limit=1000, offset=offset
        )
        while len(rows) < total - offset:
            page, _ = history.run_items(
                conn,
                account_id,
                run,
                show=show,
                search=search,
                limit=1000,
                offset=offset + len(rows),
            )
            if not page:
                break
            rows.extend(page)
        return rows, ""
    rows, total = history.run_items(
        conn, account_id, run, show=show, search=search, limit=limit, offset=offset
    )
    shown = offset + len(rows)
    if shown >= total:
        return rows, ""
    return rows, (
        f"items {offset + 1}-{shown} of {total}; the next {min(limit, total - shown)}: "
        f"scimgate sync-runs {slug} --run {run} --offset {shown}"
        + (f" --limit {limit}" if limit != 20 else "")
        + " (or --all for every one)"
    )


def _print_runs(rows: list[dict[str, Any]]) -> None:
    """One line per run: when, trigger, status, duration, counts, detail."""
    for r in rows:
        c = r["counts"] or {}
        took = ""
        began = r.get("confirmed_at") or r["started_at"]  # a confirmed run works from then
        if began and r["finished_at"]:
            took = f" in {(r['finished_at'] - began).total_seconds():.1f}s"
        confirmed = ""
        if r.get("confirmed_at"):
            confirmed = (
                f"  confirmed {as_utc(r['confirmed_at']):%Y-%m-%d %H:%M} by {r['confirmed_by']}"
            )
        typer.echo(
            f"{r['id']:>6}  {as_utc(r['created_at']):%Y-%m-%d %H:%M}  {r['trigger']:<6} {r['status']:<10}{took}  "
            f"+{c.get('created', 0)} ~{c.get('updated', 0)} -{c.get('deactivated', 0)} "
            f"↺{c.get('reactivated', 0)} ={c.get('unchanged', 0)} !{c.get('errors', 0)}"
            + confirmed
            + (f"  {r['detail']}" if r["detail"] else "")
        )

"""Available to synchronize, Synchronize with progress, held runs, history, daily settings."""

from __future__ import annotations

import zoneinfo
from typing import Any

from starlette.responses import JSONResponse, RedirectResponse, Response

from scimgate import audit
from scimgate.accounts.lookup import account_by_slug
from scimgate.errors import InvalidValueError
from scimgate.provisioning.staged import staged_count
from scimgate.sync import background, history, runs_lookup, schedule
from scimgate.sync.engine import SyncBusyError, SyncOptions
from scimgate.web.console import page_charts
from scimgate.web.console.endpoint import PREFIX, Ctx, Page

ITEMS_PER_PAGE = 50
# The run page's filter: what happened to each item (sync.history.ITEM_FILTERS).
SHOW_CHOICES = (
    ("", "Everything"),
    ("created", "Created"),
    ("updated", "Updated"),
    ("deactivated", "Deactivated"),
    ("reactivated", "Reactivated"),
    ("error", "Errors"),
)
MAX_PAGE = 1_000_000  # a page number beyond any run (its offset stays a 64-bit integer)
MEMBER_ACTIONS = ("created", "updated", "deactivated", "reactivated")
TEAM_COUNTS = (
    "teams_created",
    "teams_renamed",
    "teams_removed",
    "memberships_added",
    "memberships_removed",
)


def _account(ctx: Ctx) -> dict[str, Any]:
    assert ctx.session is not None
    return account_by_slug(ctx.conn, ctx.session.account_slug)


def available(ctx: Ctx) -> Page:
    """What a Synchronize would do now: counts, and the first changes field by field."""
    account = _account(ctx)
    context: dict[str, Any] = {"account": account, "plan": None}
    context["running"] = runs_lookup.running_run(ctx.conn, account["id"])
    context["held"] = runs_lookup.held_run(ctx.conn, account["id"])
    context["staged_users"] = staged_count(ctx.conn, account["id"], "User")
    context["staged_groups"] = staged_count(ctx.conn, account["id"], "Group")
    context["checking"] = False
    if account["provisioning_active"] or context["staged_users"]:
        plan = ctx.shared["plans"].get(ctx.conn, account["id"])
        if plan is None:
            context["checking"] = True  # still computing: the page refreshes itself
        else:
            context["plan"] = plan
            context["changes"] = [
                i for i in plan.items if i["action"] != "unchanged" or i.get("error")
            ]
            context["pending"] = sum(plan.counts[k] for k in MEMBER_ACTIONS + TEAM_COUNTS)
    return Page("sync.html", context)


def _launch(ctx: Ctx, confirm: int | None) -> Response | Page:
    try:
        started = background.start(
            ctx.engine,
            ctx.account_id,
            trigger="manual",
            actor=audit.console_actor(ctx.session.email),  # type: ignore[union-attr]
            confirm=confirm,
            options=SyncOptions.from_settings(ctx.settings),
        )
    except SyncBusyError as exc:
        return Page("error.html", {"status": 409, "message": exc.detail, "runs_link": True}, 409)
    if started.run_id is None:
        return RedirectResponse(f"{PREFIX}/sync/runs", status_code=303)
    return RedirectResponse(f"{PREFIX}/sync/runs/{started.run_id}", status_code=303)


def start(ctx: Ctx) -> Response | Page:
    """Synchronize: run now on a background thread, then show the run (with its progress)."""
    return _launch(ctx, None)


def confirm(ctx: Ctx) -> Response | Page:
    """Apply a held run: its deactivations were reviewed on its page."""
    run = history.get_run(ctx.conn, ctx.account_id, ctx.path["run_id"])
    return _launch(ctx, run["id"])


def runs(ctx: Ctx) -> Page:
    """Sync history, newest first, under charts of members and durations."""
    return Page(
        "sync_runs.html",
        {
            "runs": history.latest_runs(ctx.conn, ctx.account_id, limit=100),
            "charts": page_charts.sync_history(ctx.conn, ctx.account_id),
        },
    )


def run(ctx: Ctx) -> Page:
    """One run: status, counts, why it was held or failed, and its items a page at a time,
    filtered by what happened and by person or team."""
    found = history.get_run(ctx.conn, ctx.account_id, ctx.path["run_id"])
    try:
        page = min(max(1, int(ctx.arg("page", "1"))), MAX_PAGE)
    except ValueError:
        page = 1
    show = ctx.arg("show") or ("error" if ctx.arg("errors") == "1" else "")
    show = show if show in history.ITEM_FILTERS else ""
    search = ctx.arg("q")[: history.MAX_SEARCH].replace("\x00", "")
    items, total = _items_page(ctx, found["id"], show, search, page)
    pages = max(1, -(-total // ITEMS_PER_PAGE))
    if page > pages:  # past the end (a filter narrowed it): the last page
        page = pages
        items, total = _items_page(ctx, found["id"], show, search, page)
    first = (page - 1) * ITEMS_PER_PAGE
    context = {
        "run": found,
        "counts": found["counts"] or {},
        "items": items,
        "page": page,
        "pages": pages,
        "more": page < pages,
        "shown": (first + 1 if items else 0, first + len(items)),
        "matching": total,
        "filters": {"show": show, "q": search},
        "show_choices": SHOW_CHOICES,
        "total": _total(ctx, found),
        "done": _done(found["counts"] or {}),
    }
    return Page("sync_run.html", context)


def _items_page(
    ctx: Ctx, run_id: int, show: str, search: str, page: int
) -> tuple[list[dict[str, Any]], int]:
    return history.run_items(
        ctx.conn,
        ctx.account_id,
        run_id,
        show=show or None,
        search=search or None,
        limit=ITEMS_PER_PAGE,
        offset=(page - 1) * ITEMS_PER_PAGE,
    )


def _total(ctx: Ctx, run: dict[str, Any]) -> int:
    """About how many users a run goes through: those staged now."""
    if run["status"] != "running":
        return 0
    return staged_count(ctx.conn, ctx.account_id, "User")


def _done(counts: dict[str, Any]) -> int:
    return sum(int(counts.get(k, 0)) for k in ("created", "updated", "reactivated", "unchanged"))


def progress(ctx: Ctx) -> Response:
    """A running run's progress for the page's script."""
    found = history.get_run(ctx.conn, ctx.account_id, ctx.path["run_id"])
    counts = found["counts"] or {}
    done = _done(counts)
    total = max(_total(ctx, found), done)
    return JSONResponse({"status": found["status"], "done": done, "total": total, "counts": counts})


def settings_page(ctx: Ctx) -> Page:
    """Daily sync on/off, time and zone, and the safety threshold."""
    current = schedule.sync_settings(ctx.conn, ctx.account_id)
    errors: dict[str, str] = {}
    notice = None
    values: dict[str, Any] = dict(current)
    if ctx.request.method == "POST":
        values = {
            "daily": ctx.form.get("daily") == "on",
            "time": ctx.form.get("time", ""),
            "timezone": ctx.form.get("timezone", ""),
            "hold_percent": ctx.form.get("hold_percent", ""),
            "hold_minimum": ctx.form.get("hold_minimum", ""),
        }
        changes: dict[str, Any] = {"daily": values["daily"]}
        _check(
            errors,
            "time",
            lambda: schedule.parse_time(values["time"]),
            changes,
            "at",
            values["time"],
        )
        _check(
            errors,
            "timezone",
            lambda: schedule.parse_zone(values["timezone"]),
            changes,
            "zone",
            values["timezone"],
        )
        changes["hold_percent"] = _number(errors, "hold_percent", values["hold_percent"], 0, 100)
        changes["hold_minimum"] = _number(
            errors, "hold_minimum", values["hold_minimum"], 0, 1_000_000
        )
        if not errors:
            current = schedule.configure(
                ctx.conn,
                ctx.account_id,
                **changes,
                actor=audit.console_actor(ctx.session.email),  # type: ignore[union-attr]
            )
            values = dict(current)
            notice = "Daily sync settings saved."
    return Page(
        "sync_settings.html",
        {
            "values": values,
            "current": current,
            "errors": errors,
            "notice": notice,
            "zones": sorted(zoneinfo.available_timezones()),
        },
        status=400 if errors else 200,
    )


def _check(
    errors: dict[str, str], name: str, parse: Any, changes: dict[str, Any], key: str, value: str
) -> None:
    try:
        parse()
    except InvalidValueError as exc:
        errors[name] = exc.detail
    else:
        changes[key] = value


def _number(errors: dict[str, str], name: str, value: str, low: int, high: int) -> int | None:
    try:
        number = int(value)
    except ValueError:
        errors[name] = "Enter a whole number."
        return None
    if not low <= number <= high:
        errors[name] = f"Enter a number from {low} to {high}."
        return None
    return number

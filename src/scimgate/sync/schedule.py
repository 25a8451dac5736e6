"""The daily automatic Synchronize, claimed through the database.

Each account keeps the time of its next daily run (`sync_next_at`, UTC). A scheduler
tick finds accounts that are due and claims each by moving `sync_next_at` forward with a
compare-and-set; only the process whose UPDATE matched runs it. So N processes on one
PostgreSQL run each account's daily sync once, with no leader, and a run missed while
everything was down is due at the first tick after start (once, not once per missed day).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scimgate import audit
from scimgate.audit.actions import AuditAction
from scimgate.errors import InvalidValueError
from scimgate.states import RunStatus
from scimgate.store import schedule as store
from scimgate.store.database import Connection, Engine, as_utc, iso_utc, utcnow
from scimgate.sync.engine import RunResult, SyncBusyError, SyncOptions, synchronize

log = logging.getLogger("scimgate.scheduler")
_TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
BUSY_RETRY = timedelta(minutes=5)


def parse_time(value: str) -> time:
    """`HH:MM`, 24-hour."""
    match = _TIME.match(value.strip())
    if not match:
        raise InvalidValueError(f"{value!r} is not a time of day as HH:MM (24-hour)")
    return time(int(match.group(1)), int(match.group(2)))


def parse_zone(name: str) -> ZoneInfo:
    """An IANA time zone such as Europe/Paris."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidValueError(
            f"{name!r} is not an IANA time zone (e.g. UTC, Europe/Paris)"
        ) from None


def next_daily(now: datetime, at: str, zone: str) -> datetime:
    """The first `at` (local time in `zone`) strictly after `now`, in UTC."""
    tz = parse_zone(zone)
    wanted = parse_time(at)
    now_utc = as_utc(now)
    day = now_utc.astimezone(tz).date()
    for _ in range(3):
        # Compared in UTC: aware datetimes sharing a tzinfo compare by wall clock, which
        # ignores the fold of a DST fall-back (the repeated hour) and gave a past time.
        candidate = datetime.combine(day, wanted, tzinfo=tz).astimezone(UTC)
        if candidate > now_utc:
            return candidate
        day += timedelta(days=1)
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass
class Fired:
    """What one due account's tick did."""

    account_id: int
    slug: str
    outcome: str  # succeeded | held | failed | busy | scheduled
    run_id: int | None = None


def tick(
    engine: Engine,
    *,
    now: datetime | None = None,
    options: SyncOptions | None = None,
    run: Callable[..., RunResult] = synchronize,
) -> list[Fired]:
    """Run the daily sync of every account that is due and that this process claims."""
    now = as_utc(now or utcnow())
    with engine.connect() as conn:
        due = store.due_accounts(conn, now)
    fired: list[Fired] = []
    for account_id, slug, next_at, at, zone in due:
        try:
            following = next_daily(now, at, zone)
        except InvalidValueError:
            following = next_daily(now, "03:00", "UTC")
        if not _claim(engine, account_id, next_at, following):
            continue
        if next_at is None:
            fired.append(Fired(account_id, slug, "scheduled"))
            continue
        fired.append(_run_one(engine, account_id, slug, now, following, options, run))
    return fired


def _claim(engine: Engine, account_id: int, seen: datetime | None, following: datetime) -> bool:
    """Move the account's next run forward if nobody else did: True means it is ours."""
    return store.move_next_run(engine, account_id, seen, following)


def _run_one(
    engine: Engine,
    account_id: int,
    slug: str,
    now: datetime,
    following: datetime,
    options: SyncOptions | None,
    run: Callable[..., RunResult],
) -> Fired:
    try:
        result = run(engine, account_id, trigger="daily", actor=audit.SCHEDULER, options=options)
    except SyncBusyError:
        # A manual run is going on: try again shortly rather than skip the day.
        _claim(engine, account_id, following, now + BUSY_RETRY)
        log.info("daily sync of %s postponed: a synchronization is already running", slug)
        return Fired(account_id, slug, "busy")
    except Exception:
        log.exception("daily sync of %s failed", slug)
        return Fired(account_id, slug, RunStatus.FAILED)
    log.info("daily sync of %s: %s (run %s)", slug, result.status, result.run_id)
    return Fired(account_id, slug, result.status, result.run_id)


class Scheduler:
    """A background thread that ticks every `interval` seconds until stopped."""

    def __init__(self, engine: Engine, *, interval: float, options: SyncOptions) -> None:
        self.engine = engine
        self.interval = interval
        self.options = options
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start ticking in a daemon thread."""
        self._thread = threading.Thread(target=self.run, name="scimgate-scheduler", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether the scheduler thread is running (for /readyz)."""
        return self._thread is not None and self._thread.is_alive()

    def run(self) -> None:
        """Tick until stopped; a failing tick is logged (once per outage) and the next one tries again."""
        failing = False
        while not self._stop.is_set():
            try:
                tick(self.engine, options=self.options)
            except Exception:
                if not failing:
                    log.exception("scheduler tick failed; retrying every tick quietly")
                failing = True
            else:
                if failing:
                    log.warning("scheduler ticks succeed again")
                failing = False
            self._stop.wait(self.interval)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to stop after its current tick."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


def sync_settings(conn: Connection, account_id: int) -> dict[str, Any]:
    """The account's daily schedule and safety threshold."""
    row = store.schedule_settings(conn, account_id)
    return {
        "daily": row.daily_enabled,
        "time": row.daily_time,
        "timezone": row.timezone,
        # No next run while the daily sync is off, whatever time was computed before.
        "next_run_at": iso_utc(row.next_at) if row.next_at and row.daily_enabled else None,
        "hold_percent": row.hold_percent,
        "hold_minimum": row.hold_minimum,
    }


def configure(
    conn: Connection,
    account_id: int,
    *,
    daily: bool | None = None,
    at: str | None = None,
    zone: str | None = None,
    hold_percent: int | None = None,
    hold_minimum: int | None = None,
    now: datetime | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """Change the daily schedule or the safety threshold; the next run time follows at once.

    A change is audited (`actor`: who the audit log names, see scimgate.audit); settings
    set to what they were are no change.
    """
    current = sync_settings(conn, account_id)
    values: dict[str, Any] = {}
    if daily is not None:
        values["sync_daily_enabled"] = daily
    if at is not None:
        parse_time(at)
        values["sync_daily_time"] = at.strip()
    if zone is not None:
        values["sync_timezone"] = parse_zone(zone).key
    if hold_percent is not None:
        if not 0 <= hold_percent <= 100:
            raise InvalidValueError(
                "The hold threshold is a percentage, 0-100 (100 turns the hold off)"
            )
        values["sync_hold_percent"] = hold_percent
    if hold_minimum is not None:
        if not 0 <= hold_minimum <= 1_000_000:
            raise InvalidValueError("The hold minimum is a number of members, 0 or more")
        values["sync_hold_minimum"] = hold_minimum
    if {"sync_daily_time", "sync_timezone", "sync_daily_enabled"} & values.keys():
        values["sync_next_at"] = next_daily(
            now or utcnow(),
            values.get("sync_daily_time", current["time"]),
            values.get("sync_timezone", current["timezone"]),
        )
    if values:
        store.set_schedule(conn, account_id, values)
    after = sync_settings(conn, account_id)
    changed = {
        k: [current[k], after[k]]
        for k in ("daily", "time", "timezone", "hold_percent", "hold_minimum")
        if current[k] != after[k]
    }
    if changed:
        audit.record(
            conn,
            account_id,
            actor=actor,
            action=AuditAction.SYNC_SETTINGS_CHANGED,
            target="sync settings",
            details={"changes": changed},
        )
    return after

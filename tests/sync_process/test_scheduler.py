"""The daily Synchronize: next_daily in time zones and across DST changes, which accounts a
tick runs, and exactly once per account per day with two `scimgate scheduler --once`
processes ticking at the same moment."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, make_url, select, update

from scimgate.accounts import service as accounts
from scimgate.errors import InvalidValueError
from scimgate.store import sync_runs
from scimgate.store.database import make_engine
from scimgate.store.tables.accounts import account
from scimgate.store.tables.sync import sync_run
from scimgate.sync import schedule
from scimgate.sync.engine import SyncOptions, owner_tag
from scimgate.sync.schedule import next_daily
from tests.helpers.processes import cli_env, finish, plain_users, seed, sqlite_write_lock, start

pytestmark = pytest.mark.process


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso).replace(tzinfo=UTC)


# ---- next_daily ----


@pytest.mark.parametrize(
    "now, time_of_day, zone, expected",
    [
        ("2031-01-10T01:00", "03:00", "UTC", "2031-01-10T03:00"),  # later today
        ("2031-01-10T04:00", "03:00", "UTC", "2031-01-11T03:00"),  # passed today: tomorrow
        ("2031-01-10T03:00", "03:00", "UTC", "2031-01-11T03:00"),  # strictly after now
        ("2031-01-10T02:59:59.999", "03:00", "UTC", "2031-01-10T03:00"),
        ("2031-12-31T23:30", "00:15", "UTC", "2032-01-01T00:15"),  # across the year
        ("2031-01-10T12:00", "06:30", "Europe/Paris", "2031-01-11T05:30"),  # winter, UTC+1
        ("2031-07-10T12:00", "06:30", "Europe/Paris", "2031-07-11T04:30"),  # summer, UTC+2
        ("2031-07-10T04:00", "06:30", "Europe/Paris", "2031-07-10T04:30"),
        (
            "2031-01-10T12:00",
            "22:15",
            "America/New_York",
            "2031-01-11T03:15",
        ),  # the day before in UTC
        ("2031-01-11T03:14", "22:15", "America/New_York", "2031-01-11T03:15"),
        ("2031-01-10T12:00", "09:00", "Asia/Kolkata", "2031-01-11T03:30"),  # half-hour offset
        ("2031-01-10T12:00", "03:00", "Pacific/Kiritimati", "2031-01-10T13:00"),  # UTC+14
        ("2031-01-10T12:00", " 07:05 ", " Europe/Paris ", "2031-01-11T06:05"),  # spaces
    ],
)
def test_next_daily(now, time_of_day, zone, expected):
    assert next_daily(at(now), time_of_day, zone) == at(expected)


def test_next_daily_accepts_naive_utc_as_sqlite_returns_it():
    naive = datetime(2031, 1, 10, 4, 0)
    assert next_daily(naive, "03:00", "UTC") == at("2031-01-11T03:00")


def test_next_daily_follows_the_dst_changes_of_europe_paris():
    # Spring forward on 2031-03-30 (02:00 -> 03:00): 06:30 local is 05:30Z, then 04:30Z.
    runs = [at("2031-03-28T12:00")]
    for _ in range(4):
        runs.append(next_daily(runs[-1], "06:30", "Europe/Paris"))
    assert runs[1:] == [
        at("2031-03-29T05:30"),
        at("2031-03-30T04:30"),  # 23 hours later
        at("2031-03-31T04:30"),
        at("2031-04-01T04:30"),
    ]
    # Fall back on 2031-10-26 (03:00 -> 02:00): 04:30Z, then 05:30Z.
    runs = [at("2031-10-24T12:00")]
    for _ in range(3):
        runs.append(next_daily(runs[-1], "06:30", "Europe/Paris"))
    assert runs[1:] == [at("2031-10-25T04:30"), at("2031-10-26T05:30"), at("2031-10-27T05:30")]
    # 02:30 does not exist on 2031-03-30: that day's run is at 03:30 CEST, once.
    first = next_daily(at("2031-03-30T00:00"), "02:30", "Europe/Paris")
    assert first == at("2031-03-30T01:30")
    assert next_daily(first, "02:30", "Europe/Paris") == at("2031-03-31T00:30")
    # 02:30 happens twice on 2031-10-26: the first one, and not again that day.
    first = next_daily(at("2031-10-25T12:00"), "02:30", "Europe/Paris")
    assert first == at("2031-10-26T00:30")
    assert next_daily(first, "02:30", "Europe/Paris") == at("2031-10-27T01:30")


def test_next_daily_is_always_strictly_after_now_and_within_a_day():
    """Every quarter of an hour around DST changes. Regression: compared by wall clock (a
    shared tzinfo ignores the fold), the repeated hour of a fall-back gave a past time: at
    01:15Z on 2031-10-26 (02:15 CET, the second pass) the next 02:30 Paris was 00:30Z."""
    for zone in ("Europe/Paris", "America/New_York", "Australia/Sydney"):
        for day in ("2031-03-30", "2031-10-26", "2031-11-02", "2031-04-06", "2031-10-05"):
            start = at(f"{day}T00:00") - timedelta(hours=14)
            for step in range(0, 40 * 60, 15):  # every quarter of an hour for 40 hours
                now = start + timedelta(minutes=step)
                for time_of_day in ("01:30", "02:30", "03:00"):
                    found = next_daily(now, time_of_day, zone)
                    assert now < found <= now + timedelta(hours=25), (zone, now, time_of_day, found)


@pytest.mark.parametrize(
    "time_of_day, zone, message",
    [
        ("24:00", "UTC", "not a time of day"),
        ("3:00", "UTC", "not a time of day"),
        ("03:00", "Europe/Atlantis", "not an IANA time zone"),
        ("03:00", "../../etc/passwd", "not an IANA time zone"),
        ("03:00", "", "not an IANA time zone"),
    ],
)
def test_next_daily_refuses_bad_settings(time_of_day, zone, message):
    with pytest.raises(InvalidValueError, match=message):
        next_daily(at("2031-01-10T00:00"), time_of_day, zone)


# ---- which accounts a tick runs (in process) ----


def set_next(engine: Engine, account_id: int, when: datetime | None) -> None:
    with engine.begin() as conn:
        conn.execute(update(account).where(account.c.id == account_id).values(sync_next_at=when))


def next_at(engine: Engine, account_id: int) -> datetime | None:
    with engine.connect() as conn:
        value = conn.execute(
            select(account.c.sync_next_at).where(account.c.id == account_id)
        ).scalar_one()
    return None if value is None else value.replace(tzinfo=UTC) if value.tzinfo is None else value


def daily_runs(engine: Engine, account_id: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(sync_run).where(sync_run.c.account_id == account_id).order_by(sync_run.c.id)
        ).mappings()
        return [dict(r) for r in rows]


def test_a_freshly_activated_account_is_scheduled_at_the_first_tick_not_run(make_account, engine):
    _slug, _t, account_id = make_account("fresh")
    seed(engine, account_id, plain_users(2))
    assert next_at(engine, account_id) is None
    now = at("2031-01-10T12:00")
    fired = schedule.tick(engine, now=now, options=SyncOptions())
    assert [(f.account_id, f.outcome, f.run_id) for f in fired] == [(account_id, "scheduled", None)]
    assert daily_runs(engine, account_id) == []
    assert next_at(engine, account_id) == at("2031-01-11T03:00")
    assert schedule.tick(engine, now=now + timedelta(hours=1)) == []
    (fired,) = schedule.tick(engine, now=at("2031-01-11T03:00"))
    assert fired.outcome == "succeeded"
    (run,) = daily_runs(engine, account_id)
    assert run["trigger"] == "daily" and run["counts"]["created"] == 2


def test_daily_off_or_provisioning_inactive_is_never_run(make_account, engine):
    _slug, _t, off = make_account("off")
    _slug, _t, inactive = make_account("inactive")
    for account_id in (off, inactive):
        seed(engine, account_id, plain_users(2))
    with engine.begin() as conn:
        schedule.configure(conn, off, daily=False)
        accounts.deactivate_provisioning(conn, inactive)
    past = at("2031-01-01T03:00")
    set_next(engine, off, past)
    set_next(engine, inactive, None)
    for day in range(3):
        assert schedule.tick(engine, now=at("2031-01-10T12:00") + timedelta(days=day)) == []
    assert daily_runs(engine, off) == daily_runs(engine, inactive) == []
    assert next_at(engine, off) == past and next_at(engine, inactive) is None
    # Turned back on, the schedule follows from the setting.
    with engine.begin() as conn:
        shown = schedule.configure(conn, off, daily=True, now=at("2031-01-10T12:00"))
    assert shown["next_run_at"] == "2031-01-11T03:00:00Z"


def test_a_due_account_whose_sync_is_running_is_retried_shortly(make_account, engine):
    _slug, _t, account_id = make_account("busy")
    seed(engine, account_id, plain_users(2))
    with engine.begin() as conn:
        schedule.configure(conn, account_id, at="03:00", zone="UTC")
        lease = sync_runs.insert_run(
            conn,
            account_id,
            trigger="cli",
            status="running",
            owner=owner_tag(),
            now=datetime.now(UTC),
        )
    set_next(engine, account_id, datetime.now(UTC) - timedelta(minutes=1))
    before = datetime.now(UTC)
    (fired,) = schedule.tick(engine)
    assert fired.outcome == "busy"
    retry = next_at(engine, account_id)
    assert before + timedelta(minutes=4) < retry < datetime.now(UTC) + timedelta(minutes=6)
    assert [r["id"] for r in daily_runs(engine, account_id)] == [lease]


def test_a_daily_run_in_the_repeated_hour_of_a_dst_fall_back_runs_once(make_account, engine):
    """Regression: the claim moved sync_next_at to a past time, and every tick ran it again."""
    _slug, _t, account_id = make_account("paris")
    seed(engine, account_id, plain_users(2))
    with engine.begin() as conn:
        schedule.configure(
            conn, account_id, at="02:30", zone="Europe/Paris", now=at("2031-10-25T12:00")
        )
    assert next_at(engine, account_id) == at("2031-10-26T00:30")
    # The scheduler was down at 02:30 CEST; it is back at 02:15 CET (01:15Z).
    (fired,) = schedule.tick(engine, now=at("2031-10-26T01:15"))
    assert fired.outcome == "succeeded"
    later = schedule.tick(engine, now=at("2031-10-26T01:16"))
    assert later == [], [f.outcome for f in later]
    assert len(daily_runs(engine, account_id)) == 1


# ---- two scheduler processes at the same moment ----


ZONES = {
    "utc": ("03:00", "UTC"),
    "paris": ("02:30", "Europe/Paris"),
    "ny": ("22:15", "America/New_York"),
}
BASE = at("2031-01-10T12:00")


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def tick_processes(
    database_url: str, cwd: Path, now: datetime, n: int = 1
) -> list[list[dict[str, Any]]]:
    """`scimgate scheduler --once --now` in n processes that claim at the same moment: they
    start while the account table cannot be written, read what is due, and all wait to claim
    it until the test lets them go."""
    env = cli_env(database_url)
    args = ["scheduler", "--once", "--now", iso(now)]
    if n == 1:
        code, out, err = finish(start(args, env, cwd))
        assert code == 0, err
        return [json.loads(out)]
    with _claims_held(database_url) as waiting:
        procs = [start(args, env, cwd) for _ in range(n)]
        waiting(procs)
    outputs = []
    for proc in procs:
        code, out, err = finish(proc)
        assert code == 0, err
        assert "Traceback" not in err
        outputs.append(json.loads(out))
    return outputs


class _claims_held:
    """Hold what a claim (UPDATE account) needs until every process is waiting for it."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url

    def __enter__(self):
        if self.url.startswith("sqlite"):
            self._lock = sqlite_write_lock(self.url)
            self._lock.__enter__()
            return self._wait_sqlite
        self._engine = make_engine(self.url, pool=False)
        self._conn = self._engine.connect()
        self._tx = self._conn.begin()
        self._conn.exec_driver_sql("LOCK TABLE account IN EXCLUSIVE MODE")  # reads go on
        return self._wait_postgres

    def __exit__(self, *exc):
        if self.url.startswith("sqlite"):
            self._lock.__exit__(*exc)
        else:
            self._tx.rollback()
            self._conn.close()
            self._engine.dispose()

    def _wait_postgres(self, procs) -> None:
        deadline = time.monotonic() + 60
        while True:
            with self._engine.connect() as conn:
                waiting = conn.exec_driver_sql(
                    "SELECT COUNT(*) FROM pg_locks WHERE NOT granted "
                    "AND relation = 'account'::regclass AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                ).scalar_one()
            if waiting == len(procs):
                return
            assert all(p.poll() is None for p in procs) and time.monotonic() < deadline
            time.sleep(0.02)

    def _wait_sqlite(self, procs) -> None:
        """No lock table to look at: wait until each process has the database open (it
        reads what is due right after), then a little longer."""
        path = os.path.realpath(make_url(self.url).database)
        deadline = time.monotonic() + 60
        for proc in procs:
            while not _has_open(proc.pid, path):
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.01)
        time.sleep(0.3)


def _has_open(pid: int, path: str) -> bool:
    fd_dir = f"/proc/{pid}/fd"
    try:
        return any(os.path.realpath(os.path.join(fd_dir, fd)) == path for fd in os.listdir(fd_dir))
    except OSError:
        return False


@pytest.mark.slow
def test_two_scheduler_processes_run_each_due_account_once_a_day(
    make_account, engine, database_url, tmp_path
):
    ids = {}
    for name, (time_of_day, zone) in ZONES.items():
        _slug, _t, ids[name] = make_account(name)
        seed(engine, ids[name], plain_users(3))
        with engine.begin() as conn:
            schedule.configure(conn, ids[name], at=time_of_day, zone=zone, now=BASE)
    _slug, _t, fresh = make_account("fresh")  # activated, never ticked: sync_next_at NULL
    seed(engine, fresh, plain_users(1))
    _slug, _t, off = make_account("off")
    with engine.begin() as conn:
        schedule.configure(conn, off, daily=False, now=BASE)
    set_next(engine, off, BASE)
    assert {n: next_at(engine, i) for n, i in ids.items()} == {
        "utc": at("2031-01-11T03:00"),
        "paris": at("2031-01-11T01:30"),
        "ny": at("2031-01-11T03:15"),
    }

    def fired(outputs: list[list[dict[str, Any]]]) -> dict[int, list[str]]:
        by_account: dict[int, list[str]] = {}
        for output in outputs:
            for f in output:
                by_account.setdefault(f["account_id"], []).append(f["outcome"])
        return by_account

    def runs_of(account_id: int) -> list[dict[str, Any]]:
        return daily_runs(engine, account_id)

    # Day 1, 03:15Z: every account is due (New York's exactly now); two processes claim.
    day1 = at("2031-01-11T03:15")
    outcomes = fired(tick_processes(database_url, tmp_path, day1, n=2))
    assert outcomes == {**{i: ["succeeded"] for i in ids.values()}, fresh: ["scheduled"]}
    for name, account_id in ids.items():
        (run,) = runs_of(account_id)
        assert run["trigger"] == "daily" and run["status"] == "succeeded"
        assert run["counts"]["created"] == 3
        assert next_at(engine, account_id) == next_daily(day1, *ZONES[name])
    assert runs_of(fresh) == [] and next_at(engine, fresh) == at("2031-01-12T03:00")

    # The same moment again: nothing is due.
    assert tick_processes(database_url, tmp_path, day1) == [[]]

    # Day 2 at 03:15Z: once more each, and the fresh account's first daily run.
    day2 = at("2031-01-12T03:15")
    outcomes = fired(tick_processes(database_url, tmp_path, day2, n=2))
    assert outcomes == {i: ["succeeded"] for i in [*ids.values(), fresh]}
    for account_id in ids.values():
        assert len(runs_of(account_id)) == 2
        assert runs_of(account_id)[-1]["counts"]["unchanged"] == 3

    # Down for two days: each missed account runs once, not once per missed day.
    day4 = day2 + timedelta(days=2, hours=5)
    outcomes = fired(tick_processes(database_url, tmp_path, day4))
    assert outcomes == {i: ["succeeded"] for i in [*ids.values(), fresh]}
    for name, account_id in ids.items():
        assert len(runs_of(account_id)) == 3
        assert next_at(engine, account_id) == next_daily(day4, *ZONES[name])
        assert next_at(engine, account_id) > day4
    assert len(runs_of(fresh)) == 2
    assert runs_of(off) == []

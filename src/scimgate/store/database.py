"""Engines and migrations, built from Settings by the entry points (nothing at import time)."""

from __future__ import annotations

import functools
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psycopg
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.pool import NullPool

from scimgate.errors import (
    StorageError,
    StorageTimeoutError,
    StorageUnavailableError,
    UnstorableValueError,
)
from scimgate.store.errors import UNAVAILABLE, UNSTORABLE, is_timeout, storage_error

# The time helpers moved to scimgate.timestamps (they are not storage); re-exported here so
# existing callers keep working.
from scimgate.timestamps import as_utc, iso_utc, utcnow  # noqa: F401

MIGRATIONS = Path(__file__).parent / "migrations"
# SQLite page cache per connection (KiB, negative as the pragma takes it), and no memory
# map: a mapped 1.4 GB database counted once per connection in the resident size (4.7 GiB
# VmRSS at 1,000,000 users with 8 request threads); 8 MiB of cache per connection keeps
# the upper levels of every index in memory and the rest comes from the OS page cache.
SQLITE_CACHE_KIB = 8 * 1024
SQLITE_MMAP_BYTES = 0


@dataclass(frozen=True)
class RequestLimits:
    """Deadlines for the connections that answer requests (sync and other batch jobs have none)."""

    statement_timeout_ms: int = 5000  # PostgreSQL: one statement
    lock_timeout_ms: int = 2000  # PostgreSQL: one lock wait
    busy_timeout_ms: int = 2000  # SQLite: the wait for the write lock


_deadline = threading.local()  # per thread: when the current request's database work must stop


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Bound the SQLite work this thread does inside the block (PostgreSQL bounds statements)."""
    _deadline.at = time.monotonic() + seconds
    try:
        yield
    finally:
        _deadline.at = None


def _past_deadline() -> int:
    """SQLite progress handler: a non-zero answer interrupts the running statement."""
    at = getattr(_deadline, "at", None)
    return 1 if at is not None and time.monotonic() > at else 0


def make_engine(
    database_url: str, *, pool: bool = True, limits: RequestLimits | None = None
) -> Engine:
    """An engine for SQLite (WAL, foreign keys, busy timeout) or PostgreSQL (psycopg 3).

    With `limits`, every connection carries the request deadlines: PostgreSQL's
    statement and lock timeouts as connection options (no round trip per request), and
    on SQLite a short busy timeout and a progress handler that interrupts a statement
    once the thread's `deadline` has passed.
    """
    kwargs: dict[str, Any] = {"json_serializer": _dumps, "json_deserializer": orjson.loads}
    if database_url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        if not pool:
            kwargs["poolclass"] = NullPool
        engine = create_engine(database_url, **kwargs)
        busy_ms = limits.busy_timeout_ms if limits else 30000
        event.listen(engine, "connect", lambda dbapi, _rec: _sqlite_pragmas(dbapi, busy_ms))
        if limits is not None:
            event.listen(engine, "connect", _sqlite_deadline)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if not pool:
        kwargs["poolclass"] = NullPool
    else:
        # A checkout that waits longer than this fails fast (503) instead of queueing.
        kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True, pool_timeout=5)
    if limits is not None:
        kwargs["connect_args"] = {
            "options": f"-c statement_timeout={limits.statement_timeout_ms}"
            f" -c lock_timeout={limits.lock_timeout_ms}"
            f" -c idle_in_transaction_session_timeout={max(limits.statement_timeout_ms * 4, 60000)}",
            "connect_timeout": 5,
        }
    return create_engine(database_url, **kwargs)


def _sqlite_deadline(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.set_progress_handler(_past_deadline, 100_000)  # about every ms of work


@contextmanager
def storage_errors() -> Iterator[None]:
    """Raise the driver's failures inside the block as StorageErrors (scimgate.errors), so
    the shells handle domain errors only and never import a driver."""
    try:
        yield
    except (OperationalError, ProgrammingError) as exc:
        # a lock another process holds (try again), or a database unreachable or not migrated
        error_class = StorageTimeoutError if is_timeout(exc) else StorageUnavailableError
        raise error_class(_driver_summary(exc.orig)) from exc
    except (sqlite3.Error, psycopg.Error) as exc:
        # Raised by the driver directly (pre-written SQL, BEGIN IMMEDIATE on SQLite).
        raise StorageError(_driver_summary(exc)) from exc


def _driver_summary(exc: BaseException) -> str:
    """The driver's error type and the first line of its message (which may be empty)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def _dumps(value: Any) -> str:
    """orjson for stored documents: several times faster than the json module."""
    return orjson.dumps(value).decode()


def _sqlite_pragmas(dbapi_connection: Any, busy_ms: int) -> None:
    """WAL for concurrent readers, FK enforcement, and waiting on locks instead of failing.

    The driver's own transaction handling is switched off (isolation_level None) and
    SQLAlchemy emits BEGIN itself: otherwise pysqlite starts no transaction before a
    SAVEPOINT, and releasing it commits, so a failed request could leave half a write.
    """
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # A larger page cache than SQLite's 2 MB default: at 100,000 users the hot index pages
    # outgrow it, and every miss was a read() system call.
    cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    """BEGIN IMMEDIATE for connections marked `writes=True`: take the write lock up front,
    so a read-then-write transaction never fails on a lock upgrade under concurrency."""
    immediate = conn.get_execution_options().get("writes", False)
    statement = "BEGIN IMMEDIATE" if immediate else "BEGIN"
    try:
        conn.connection.driver_connection.execute(statement)
    except sqlite3.OperationalError as exc:  # e.g. the write lock was not granted in time
        raise OperationalError(statement, None, exc) from exc


class WriteGate:
    """SQLite's one write lock, taken in the process first: writers of one process queue on a
    Python lock (handed over at once) instead of SQLite's busy handler, which sleeps 1, 2,
    5 ... 100 ms between tries. Other processes still meet the busy timeout."""

    def __init__(self, timeout_ms: int) -> None:
        self.timeout = timeout_ms / 1000
        self._lock = threading.Lock()

    def enter(self) -> None:
        """Wait for this process's turn to write, as long as the busy timeout allows."""
        if not self._lock.acquire(timeout=self.timeout):
            statement = "BEGIN IMMEDIATE"
            raise OperationalError(statement, None, sqlite3.OperationalError("database is locked"))

    def leave(self) -> None:
        self._lock.release()


class KeptConnection:
    """One kept-open connection for the request work done on one thread.

    Each SCIM worker thread keeps its own (one thread, one transaction at a time); a
    kept connection saves the pool check-out and check-in of every request (measured:
    about a tenth of a lookup).
    A connection that fails at the database level is dropped and replaced on next use,
    and every connection is replaced after `max_age` seconds: PostgreSQL caches plans per
    connection (foreign-key checks, prepared statements), and a plan made while a table
    was nearly empty must not outlive the table's growth.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        max_age: float = 300.0,
        write_gate: WriteGate | None = None,
    ) -> None:
        self.engine = engine
        self.max_age = max_age
        self.write_gate = write_gate
        self._conn: Connection | None = None
        self._born = 0.0
        self._writes: bool | None = None  # the mode the kept connection is in
        self._postgres = engine.dialect.name == "postgresql"

    @contextmanager
    def transaction(self, *, writes: bool) -> Iterator[Connection]:
        """A transaction on the kept connection (BEGIN IMMEDIATE on SQLite when `writes`);
        a failed database is raised as a StorageError, a value it cannot hold as
        UnstorableValueError (scimgate.errors)."""
        conn = self._connection()
        if writes != self._writes:  # switching costs a dialect call: only when it changes
            self._set_mode(conn, writes)
        gate = self.write_gate if writes and not self._postgres else None
        if gate is not None:
            try:
                gate.enter()
            except OperationalError as exc:
                raise storage_error(exc) from exc
        try:
            with conn.begin():
                yield conn
        except DBAPIError as exc:
            self._conn = None
            with suppress(Exception):
                conn.close()
            # The storage edge: the request thread sees domain errors, never the driver's.
            if isinstance(exc, UNSTORABLE):
                raise UnstorableValueError() from exc
            if isinstance(exc, UNAVAILABLE):
                raise storage_error(exc) from exc
            raise
        except psycopg.DataError as exc:  # from a raw statement (store/driver.py)
            raise UnstorableValueError() from exc
        except SATimeoutError as exc:
            raise storage_error(exc) from exc
        finally:
            if gate is not None:
                gate.leave()

    def _connection(self) -> Connection:
        """The kept connection, opened again when it is too old, closed or invalidated."""
        conn = self._conn
        if conn is not None and time.monotonic() - self._born > self.max_age:
            self.close()
            conn = None
        if conn is None or conn.closed or conn.invalidated:
            try:
                conn = self._conn = self.engine.connect()
            except UNAVAILABLE as exc:  # refused, or no pooled connection in time
                raise storage_error(exc) from exc
            self._born = time.monotonic()
            self._writes = None
        return conn

    def _set_mode(self, conn: Connection, writes: bool) -> None:
        """Put the connection in read or write mode (remembered: only a change costs)."""
        if self._postgres:
            # Reads run in autocommit: no BEGIN and COMMIT round trips for a lookup.
            conn.execution_options(
                writes=writes, isolation_level="READ COMMITTED" if writes else "AUTOCOMMIT"
            )
        else:
            conn.execution_options(writes=writes)
        self._writes = writes

    @property
    def postgres(self) -> bool:
        return self._postgres

    def close(self) -> None:
        """Return the connection to the pool (at shutdown)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@contextmanager
def bulk_session(conn: Connection) -> Iterator[None]:
    """Settings for a long batch job on this connection (SQLite), restored afterwards.

    Fewer, larger WAL checkpoints: each batch rewrites the same index pages, and a
    checkpoint every 1,000 pages (the default) wrote them back over and over (measured: a
    third of a 100,000-user first sync). (No connection maps the file any more, so a
    sync's pass through all of it does not count in the resident size either.)
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    dbapi = conn.connection.driver_connection  # outside any SQLAlchemy transaction
    dbapi.execute("PRAGMA wal_autocheckpoint=16384")
    try:
        yield
    finally:
        with suppress(Exception):
            dbapi.execute("PRAGMA wal_autocheckpoint=1000")


@functools.cache
def head_revision() -> str:
    """The newest Alembic revision this code ships (what a ready database must be at);
    read once per process: the scripts do not change under a running process, and every
    app built (each test builds one) asked again."""
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory.from_config(_alembic_config()).get_current_head())


@dataclass(frozen=True)
class MigrationReport:
    """What `migrate` did, for the operator: the revision before (None: no schema), after,
    and the (revision, title) of each migration applied, oldest first."""

    before: str | None
    after: str | None
    applied: tuple[tuple[str, str], ...]


def _alembic_config(database_url: str | None = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if database_url is not None:
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def current_revision(database_url: str) -> str | None:
    """The revision a database's schema is at, or None when it has none yet."""
    from alembic.migration import MigrationContext

    engine = make_engine(database_url, pool=False)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def migrate(database_url: str) -> MigrationReport:
    """Create or upgrade the schema to the newest Alembic revision, and say what changed."""
    from alembic import command
    from alembic.script import ScriptDirectory

    config = _alembic_config(database_url)
    before = current_revision(database_url)
    command.upgrade(config, "head")
    after = current_revision(database_url)
    script = ScriptDirectory.from_config(config)
    applied: tuple[tuple[str, str], ...] = ()
    if after is not None and after != before:
        walked = script.iterate_revisions(after, before or "base")
        applied = tuple((str(r.revision), str(r.doc or "")) for r in reversed(list(walked)))
    return MigrationReport(before=before, after=after, applied=applied)

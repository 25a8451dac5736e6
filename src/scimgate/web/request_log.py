"""The per-account provisioning request log: buffered in memory, written in batches, bounded.

SCIM requests are logged without a write of their own: entries are flushed about once a
second in one transaction, and old rows are pruned by age and by count per account.
Secrets never reach it: no headers are kept; paths, query strings, bodies and details are
kept with every credential shape and every password-, secret-,
token- or key-like field redacted (web/redaction.py), bodies cut to `MAX_BODY_CHARS`.

The writer never stops for good: one entry that cannot be redacted is logged with a
placeholder, one that the database refuses is dropped alone (and counted), a write that
fails because the database is away is retried at the next flush, and a writer task that
dies anyway is restarted. Each failure is logged once at ERROR and counted
(`failures_total`, `restarts_total`, `dropped_total`, `last_error`, `healthy`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from scimgate.errors import StorageError
from scimgate.provisioning import request_log as log_book
from scimgate.timestamps import utcnow
from scimgate.web.redaction import (
    MAX_BODY_CHARS,
    redact_body,
    redact_credentials,
    redact_query,
    redact_text,
)
from scimgate.webhooks.retention import RetentionSweep

log = logging.getLogger("scimgate.request_log")

UNREDACTABLE = "[not logged: it could not be redacted]"
_KEEP_BODIES = 10_000  # pending entries beyond which new ones are queued without bodies
_MAX_BACKLOG = 100_000  # entries kept while the database is away; the oldest go first
_PRUNE_EVERY = 10  # flushes: small, frequent prunes instead of one large delete a minute
_SWEEP_SECONDS = 3600.0  # every account, written to lately or not, is pruned this often
_PRUNE_ACCOUNTS = 500  # accounts per prune: a sweep of many accounts is spread over prunes
_TEXT_LIMITS = {"query": 2000, "detail": 2000, "ignored": 4000}
_COLUMNS = log_book.entry_columns()
_LIMITS = {**log_book.column_limits(), **_TEXT_LIMITS}

# ---- entries -------------------------------------------------------------------------------


def clean_text(value: str) -> str:
    """Text PostgreSQL accepts: no NUL, no lone surrogate (either fails the whole insert)."""
    value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def _fit(row: dict[str, Any]) -> dict[str, Any]:
    """Text cleaned and cut to its column: a value the database refuses loses only its row."""
    for name, value in row.items():
        if isinstance(value, str):
            text = clean_text(value)
            limit = _LIMITS.get(name)
            row[name] = text[:limit] if limit else text
    return row


def _redacted(entry: dict[str, Any]) -> dict[str, Any]:
    """The row to insert for one entry: every text field redacted, then fitted."""
    row = {name: entry.get(name) for name in _COLUMNS}
    row["query"] = redact_query(str(row["query"] or "")[: _TEXT_LIMITS["query"] * 4])
    for name in ("path", "detail", "ignored", "resource_id", "scim_type"):
        if isinstance(row[name], str):
            row[name] = redact_text(row[name])
    row["request_body"] = redact_body(row["request_body"])
    row["response_body"] = redact_body(row["response_body"])
    return _fit(row)


def _placeholder(entry: dict[str, Any]) -> dict[str, Any]:
    """The row for an entry whose redaction failed: its outcome without its text."""
    row = {name: entry.get(name) for name in _COLUMNS}
    row["path"] = _or(redact_credentials, row["path"], "[not logged]")
    row["query"] = UNREDACTABLE if row["query"] else ""
    for name in ("detail", "ignored", "request_body", "response_body"):
        row[name] = UNREDACTABLE if row[name] else None
    for name in ("resource_id", "scim_type"):
        row[name] = _or(redact_credentials, row[name], None)
    return _fit(row)


def _or(redact: Callable[[str], str], value: Any, fallback: Any) -> Any:
    """`redact(value)` for a string, or the fallback when that fails too."""
    try:
        return redact(value) if isinstance(value, str) else value
    except Exception:  # noqa: BLE001 - the placeholder is the fallback
        return fallback


def _transient(exc: BaseException) -> bool:
    """The database is away (not this data): the write is worth retrying later."""
    return isinstance(exc, StorageError | OSError) or bool(
        getattr(exc, "connection_invalidated", False)
    )


def _describe(exc: BaseException) -> str:
    """One line for last_error: the type and the first line of the message (the driver's,
    for a failure the storage edge raised as a StorageError)."""
    if isinstance(exc, StorageError) and exc.__cause__ is not None:
        exc = exc.__cause__
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0][:300] if message else ''}".rstrip(": ")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop of this thread, if one is running."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class RequestLogBuffer:
    """Collects entries from request handlers and writes them in batches, on a supervised
    writer task (`start()` / `stop()`; `ensure_running()` restarts it if it died)."""

    def __init__(
        self, engine: Engine, *, max_rows: int, max_days: int, flush_seconds: float
    ) -> None:
        self.engine = engine
        self.max_rows = max_rows
        self.max_days = max_days
        self.flush_seconds = flush_seconds
        self._pending: list[dict[str, Any]] = []
        self._retry: list[dict[str, Any]] = []  # redacted rows a failed write gave back
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()  # one flush at a time (the task, a test, stop)
        self._flushes = 0
        self._touched: set[int] = set()  # accounts written since the last prune
        self._swept_at: float | None = None  # monotonic time of the last sweep of every account
        self.events = RetentionSweep(engine)  # events older than their account's window go too
        self.written_total = 0
        self.dropped_total = 0
        self.failures_total = 0
        self.restarts_total = 0
        self.last_error: str | None = None
        self._failing = False  # the last write could not reach the database
        # Writes that ride along with each flush (web/client_habits.py's counts).
        self.companions: list[Callable[[], object]] = []
        # The writer task of each event loop that started one (one per app lifespan; a test
        # may run two TestClients, each on a loop of its own, over one app).
        self._writers: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}

    # ---- state for metrics and readiness ----

    @property
    def backlog(self) -> int:
        """Entries waiting to be written (new ones and ones a failed write gave back)."""
        return len(self._pending) + len(self._retry)

    @property
    def healthy(self) -> bool:
        """The writer task is alive and its last write did not fail (or it recovered)."""
        alive = any(not task.done() for task in list(self._writers.values()))
        return alive and not self._failing

    @property
    def writer(self) -> asyncio.Task[None] | None:
        """The writer task of the running loop, else the one started last (tests, checks)."""
        loop = _running_loop()
        if loop is not None and loop in self._writers:
            return self._writers[loop]
        return next(reversed(list(self._writers.values())), None)

    _task = writer  # the name it had first

    def _report(self, message: str, *, failing: bool, exc: BaseException | None = None) -> None:
        """One failure: logged once at ERROR, counted, kept as last_error."""
        self.failures_total += 1
        self.last_error = message
        if failing:
            self._failing = True
        log.error("request log: %s", message, exc_info=exc)

    # ---- the request path ----

    def add(self, entry: dict[str, Any]) -> None:
        """Queue one entry (called on the request path: no I/O, never raises)."""
        if self.max_rows <= 0:
            return
        try:
            self._bound(entry)
        except Exception as exc:  # noqa: BLE001 - a request must never fail for its log entry
            self._report(f"entry not queued: {_describe(exc)}", failing=False, exc=exc)
            return
        with self._lock:
            self._pending.append(entry)
            if len(self._pending) + len(self._retry) > _MAX_BACKLOG:
                self._shed()

    def _bound(self, entry: dict[str, Any]) -> None:
        """Bounded memory: text cut now, bodies dropped while a backlog builds up."""
        for key in ("query", "path", "detail", "ignored"):
            value = entry.get(key)
            if isinstance(value, str) and len(value) > 8000:
                entry[key] = value[:8000]
        for key in ("request_body", "response_body"):
            body = entry.get(key)
            if body and (len(body) > MAX_BODY_CHARS * 4 or self.backlog > _KEEP_BODIES):
                # The log keeps MAX_BODY_CHARS anyway, and with a backlog (the database is
                # slow or gone) only the entries themselves are kept.
                entry[key] = body[: MAX_BODY_CHARS * 4] if self.backlog <= _KEEP_BODIES else None

    def _shed(self) -> None:
        """The database is gone: drop the oldest half of the backlog (called under the lock)."""
        shed = _MAX_BACKLOG // 2
        from_retry = min(shed, len(self._retry))
        del self._retry[:from_retry]
        del self._pending[: shed - from_retry]
        self.dropped_total += shed
        self.failures_total += 1
        self.last_error = f"backlog over {_MAX_BACKLOG} entries: dropped the oldest {shed}"
        log.error("request log: %s", self.last_error)

    # ---- writing ----

    def flush(self) -> int:
        """Write what is pending; prune now and then. Returns how many entries were written.
        Never raises: a failure is reported, and what the database refused is dropped."""
        with self._flush_lock:
            self._flush_companions()
            with self._lock:
                batch, self._pending = self._pending, []
                retry, self._retry = self._retry, []
            try:
                rows = retry + self._prepare(batch)
                written = self._write(rows) if rows else 0
            except Exception as exc:  # noqa: BLE001 - a bug here must not lose the writer
                self.dropped_total += len(retry) + len(batch)
                self._report(f"flush failed: {_describe(exc)}", failing=True, exc=exc)
                return 0
            if not rows:
                self._failing = False
            self._flushes += 1
            if self._flushes % _PRUNE_EVERY == 1 and not self._failing:  # not while away
                self.prune()
            return written

    def _flush_companions(self) -> None:
        """The writes that share the flush; one that fails keeps its data for the next."""
        for companion in self.companions:
            try:
                companion()
            except Exception as exc:  # noqa: BLE001 - reported, counted, never fatal
                self._report(f"could not write with the log: {_describe(exc)}", failing=False)

    def _prepare(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rows to insert: redacted here, off the request path; an entry whose redaction
        fails keeps its outcome and loses its text."""
        rows, failed, first = [], 0, None
        for entry in batch:
            try:
                rows.append(_redacted(entry))
            except Exception as exc:  # noqa: BLE001 - RecursionError, a bad type, a bug
                failed, first = failed + 1, first or exc
                rows.append(_placeholder(entry))
            self._touched.add(entry.get("account_id"))
        if first is not None:
            self._report(
                f"{failed} entries could not be redacted and were logged without their text: "
                f"{_describe(first)}",
                failing=False,
                exc=first,
            )
        return rows

    def _write(self, rows: list[dict[str, Any]]) -> int:
        """Insert the batch in one transaction; when the database refuses it, entry by entry."""
        try:
            self._insert(rows)
        except Exception as exc:  # noqa: BLE001 - reported, counted, never fatal
            if _transient(exc):
                self._give_back(rows)
                self._report(
                    f"could not write {len(rows)} entries, retrying at the next flush: "
                    f"{_describe(exc)}",
                    failing=True,
                )
                return 0
            return self._write_each(rows, exc)
        self.written_total += len(rows)
        self._failing = False
        return len(rows)

    def _write_each(self, rows: list[dict[str, Any]], cause: Exception) -> int:
        """After a refused batch: one transaction per entry, dropping only those refused."""
        written, dropped, retried = 0, 0, 0
        for i, row in enumerate(rows):
            try:
                self._insert([row])
            except Exception as exc:  # noqa: BLE001 - reported, counted, never fatal
                if _transient(exc):
                    retried = len(rows) - i
                    self._give_back(rows[i:])
                    break
                dropped += 1
            else:
                written += 1
        self.written_total += written
        self.dropped_total += dropped
        self._report(
            f"the database refused a batch of {len(rows)} entries ({_describe(cause)}): "
            f"wrote {written} one by one, dropped {dropped}, kept {retried} for the next flush",
            failing=retried > 0,
        )
        if not retried:
            self._failing = False
        return written

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        log_book.insert_entries(self.engine, rows)

    def _give_back(self, rows: list[dict[str, Any]]) -> None:
        """Keep redacted rows for the next flush, ahead of newer entries."""
        with self._lock:
            self._retry = rows + self._retry
            if len(self._pending) + len(self._retry) > _MAX_BACKLOG:
                self._shed()

    def prune(self) -> None:
        """Keep at most `max_rows` entries and none older than `max_days`, per account.

        Accounts written to since the last prune are pruned at once; every account (an idle
        one's entries age too) once an hour. Each through its (account_id, id) and
        (account_id, at) indexes, at most _PRUNE_ACCOUNTS per call. The hourly sweep also
        starts one of events past their account's retention, done a bounded step per call.
        """
        accounts: set[int] = set()
        cutoff = utcnow() - timedelta(days=self.max_days)
        try:
            if self._sweep_due():
                self._touched |= log_book.account_ids(self.engine)
                self.events.start()
            self._touched.discard(None)  # type: ignore[arg-type]
            accounts = set(sorted(self._touched)[:_PRUNE_ACCOUNTS])
            self._touched -= accounts
            log_book.prune(self.engine, accounts, cutoff=cutoff, max_rows=self.max_rows)
        except Exception as exc:  # noqa: BLE001 - reported, counted, never fatal
            self._report(f"could not prune: {_describe(exc)}", failing=False, exc=exc)
            self._touched |= accounts
        try:
            self.events.step()  # a bounded step of the hourly event sweep, if one is on
        except Exception as exc:  # noqa: BLE001 - reported, counted, never fatal
            self._report(f"could not prune events: {_describe(exc)}", failing=False, exc=exc)

    def _sweep_due(self) -> bool:
        """Whether every account is due a prune (the first prune of a process sweeps)."""
        now = time.monotonic()
        if self._swept_at is not None and now - self._swept_at < _SWEEP_SECONDS:
            return False
        self._swept_at = now
        return True

    # ---- the writer task ----

    def start(self) -> asyncio.Task[None]:
        """Start the writer on the running loop; it is restarted whenever it dies."""
        loop = asyncio.get_running_loop()
        task = loop.create_task(self.run(), name="request-log-writer")
        self._writers[loop] = task
        task.add_done_callback(self._on_done)
        return task

    def ensure_running(self) -> bool:
        """Restart a writer that is not running (from /readyz); True when all were running.
        A writer stopped on purpose (`stop()`) is left alone."""
        dead = [(loop, task) for loop, task in list(self._writers.items()) if task.done()]
        for loop, task in dead:
            if loop.is_closed():  # its app is gone: nothing to restart
                self._writers.pop(loop, None)
                continue
            self.restarts_total += 1
            self._report("the writer task was not running: restarted", failing=False)
            if loop is _running_loop():
                self._restart(loop, task)
            else:
                loop.call_soon_threadsafe(self._restart, loop, task)
        return not dead

    async def stop(self) -> None:
        """Stop the writer of the running loop: it writes what is pending once more."""
        task = self._writers.pop(asyncio.get_running_loop(), None)
        if task is None or task.done():
            await asyncio.to_thread(self.flush)
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def _on_done(self, task: asyncio.Task[None]) -> None:
        """A writer ended: unless stopped or cancelled, report it and start a new one."""
        loop = task.get_loop()
        if task.cancelled() or self._writers.get(loop) is not task:
            return
        exc = task.exception()
        why = _describe(exc) if exc is not None else "it returned"
        self.restarts_total += 1
        self._report(f"the writer task died ({why}): restarted", failing=False, exc=exc)
        self._restart(loop, task)

    def _restart(self, loop: asyncio.AbstractEventLoop, dead: asyncio.Task[None]) -> None:
        """On `loop`: a new writer in place of `dead`, unless stopped or replaced meanwhile."""
        if self._writers.get(loop) is dead and loop.is_running():
            self.start()

    async def run(self) -> None:
        """Flush periodically until cancelled, then once more; a failed flush is reported
        and the next one comes as usual."""
        task = asyncio.current_task()
        if task is not None:  # also when created by hand: asyncio.create_task(buffer.run())
            self._writers.setdefault(asyncio.get_running_loop(), task)
        try:
            while True:
                await asyncio.sleep(self.flush_seconds)
                try:
                    # Off the event loop: a write of thousands of entries (or a prune) must
                    # not stall the SCIM requests that keep arriving meanwhile.
                    await asyncio.to_thread(self.flush)
                except Exception as exc:  # noqa: BLE001 - reported, counted, never fatal
                    self._report(f"flush failed: {_describe(exc)}", failing=True, exc=exc)
        finally:
            try:
                self.flush()
            except Exception as exc:  # noqa: BLE001 - reported, counted, never fatal
                self._report(f"last flush failed: {_describe(exc)}", failing=True, exc=exc)

"""A bounded pool of threads for the database work of requests, so no query blocks the event loop.

Each thread keeps one connection. A request waits at most `db_queue_seconds` for a
free thread (then 503 with Retry-After: the server says it is full instead of queueing
without end), and one account may hold at most `account_concurrency` threads at once
(its other requests wait their turn within the same bound), so a tenant with slow
requests cannot take every thread from the others. Inside a
thread the work runs under the request deadline (SQLite's progress handler; on
PostgreSQL, statement and lock timeouts on the connection).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine

from scimgate.settings import Settings
from scimgate.store.database import KeptConnection, WriteGate, deadline

T = TypeVar("T")


class PoolBusyError(Exception):
    """No thread became free in time: the process is saturated."""


class AccountBusyError(Exception):
    """This account's share of the threads stayed busy for as long as a request may wait."""


@dataclass
class _Share:
    """One account's slots, and how many of its requests are waiting or running."""

    slots: asyncio.Semaphore
    users: int = 0


class RequestThreads:
    """Runs request database work on `db_threads` threads, each with its kept connection."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.size = settings.db_threads
        self.queue_seconds = settings.db_queue_seconds
        self.timeout = settings.request_timeout_seconds
        self.per_account = min(settings.account_concurrency, self.size)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []  # started on first use
        self._local = threading.local()
        self._kept: list[KeptConnection] = []
        self._lock = threading.Lock()
        self._running = 0
        self._write_gate = WriteGate(settings.sqlite_busy_timeout_ms)  # used on SQLite only
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        self._shares: dict[object, _Share] = {}  # per account: its share of the threads

    def _semaphore(self) -> asyncio.Semaphore:
        """One semaphore per event loop (tests run several apps on several loops)."""
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, asyncio.Semaphore(self.size))
        return self._slots[1]

    async def run(self, work: Callable[[KeptConnection], T], *, share: object = None) -> T:
        """`work(connection)` on a free thread under the request deadline.

        `share` names whose share of the threads this request uses (an account): at most
        `account_concurrency` of one share run at once. Waiting for the share and then for
        a thread is bounded by `db_queue_seconds` in all; past it: AccountBusyError or
        PoolBusyError, answered 503 with Retry-After.
        """
        if share is None:
            return await self._on_thread(work, self.queue_seconds)
        entry = self._shares.get(share)
        if entry is None:
            entry = self._shares[share] = _Share(asyncio.Semaphore(self.per_account))
        entry.users += 1
        waited = time.monotonic()
        try:
            if not await _acquire(entry.slots, self.queue_seconds):
                raise AccountBusyError()
            try:
                left = self.queue_seconds - (time.monotonic() - waited)
                return await self._on_thread(work, max(0.01, left))
            finally:
                entry.slots.release()
        finally:
            entry.users -= 1
            if not entry.users:  # memory follows the accounts active right now
                self._shares.pop(share, None)

    async def _on_thread(self, work: Callable[[KeptConnection], T], wait: float) -> T:
        slots = self._semaphore()
        if not await _acquire(slots, wait):
            raise PoolBusyError()
        if not self._threads:
            self._start()
        self._running += 1
        try:
            loop = asyncio.get_running_loop()
            future: asyncio.Future[T] = loop.create_future()
            self._queue.put((loop, future, work))
            return await future
        finally:
            self._running -= 1
            slots.release()

    def _start(self) -> None:
        """The threads, made on the first request (an app that never serves has none)."""
        self._threads = [
            threading.Thread(target=self._serve, name=f"scimgate-db-{n}", daemon=True)
            for n in range(self.size)
        ]
        for thread in self._threads:
            thread.start()

    def _serve(self) -> None:
        """A request thread: take work, run it under the deadline, hand the result back.

        A plain queue and call_soon_threadsafe instead of an executor: the hand-off is
        on every request, and this is about half of what run_in_executor costs.
        """
        while True:
            item = self._queue.get()
            if item is None:
                return
            loop, future, work = item
            try:
                with deadline(self.timeout):
                    result = work(self.connection())
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting request
                _hand_back(loop, future, exc, failed=True)
            else:
                _hand_back(loop, future, result, failed=False)

    def connection(self) -> KeptConnection:
        """This thread's kept connection (made on first use)."""
        kept: KeptConnection | None = getattr(self._local, "kept", None)
        if kept is None:
            kept = self._local.kept = KeptConnection(self.engine, write_gate=self._write_gate)
            with self._lock:
                self._kept.append(kept)
        return kept

    def busy(self) -> int:
        """Requests holding a thread right now (for /metrics)."""
        return self._running

    def close(self) -> None:
        """Stop the threads and close their connections (at shutdown)."""
        threads, self._threads = self._threads, []
        for _ in threads:
            self._queue.put(None)
        for thread in threads:
            thread.join(timeout=10)
        with self._lock:
            kept, self._kept = self._kept, []
        for item in kept:
            with suppress(Exception):
                item.close()


async def _acquire(slots: asyncio.Semaphore, wait: float) -> bool:
    """Take a slot, waiting at most `wait` seconds (no timer at all when one is free)."""
    if not slots.locked():
        await slots.acquire()
        return True
    try:
        async with asyncio.timeout(wait):  # a timer on this task, not a task of its own
            await slots.acquire()
    except TimeoutError:
        return False
    return True


def _hand_back(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], value: Any, *, failed: bool
) -> None:
    """Resolve the request's future on its own loop (it may have gone: then nothing)."""

    def resolve() -> None:
        if future.done():
            return
        if failed:
            future.set_exception(value)
        else:
            future.set_result(value)

    with suppress(RuntimeError):  # the loop closed while the work ran
        loop.call_soon_threadsafe(resolve)


def retry_after(seconds: float) -> dict[str, str]:
    """A Retry-After header of whole seconds, at least one."""
    return {"Retry-After": str(max(1, int(seconds + 0.999)))}

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
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Engine

from scimgate.settings import Settings
from scimgate.store.database import KeptConnection, deadline

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
        self.executor = ThreadPoolExecutor(self.size, thread_name_prefix="scimgate-db")
        self._local = threading.local()
        self._kept: list[KeptConnection] = []
        self._lock = threading.Lock()
        self._running = 0
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
            try:
                await asyncio.wait_for(entry.slots.acquire(), self.queue_seconds)
            except TimeoutError:
                raise AccountBusyError() from None
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
        try:
            await asyncio.wait_for(slots.acquire(), wait)
        except TimeoutError:
            raise PoolBusyError() from None
        self._running += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.executor, self._call, work)
        finally:
            self._running -= 1
            slots.release()

    def _call(self, work: Callable[[KeptConnection], T]) -> T:
        with deadline(self.timeout):
            return work(self.connection())

    def connection(self) -> KeptConnection:
        """This thread's kept connection (made on first use)."""
        kept: KeptConnection | None = getattr(self._local, "kept", None)
        if kept is None:
            kept = self._local.kept = KeptConnection(self.engine)
            with self._lock:
                self._kept.append(kept)
        return kept

    def busy(self) -> int:
        """Requests holding a thread right now (for /metrics)."""
        return self._running

    def close(self) -> None:
        """Stop the threads and close their connections (at shutdown)."""
        self.executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            kept, self._kept = self._kept, []
        for item in kept:
            with suppress(Exception):
                item.close()


def retry_after(seconds: float) -> dict[str, str]:
    """A Retry-After header of whole seconds, at least one."""
    return {"Retry-After": str(max(1, int(seconds + 0.999)))}

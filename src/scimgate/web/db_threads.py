"""A bounded pool of threads for the database work of requests, so no query blocks the event loop.

Each thread keeps one connection. A request waits at most `db_queue_seconds` for a
free thread (then 503 with Retry-After: the server says it is full instead of queueing
without end), and one account may hold at most `account_concurrency` threads at once,
so a tenant with slow requests cannot take every thread from the others. Inside a
thread the work runs under the request deadline (SQLite's progress handler; on
PostgreSQL, statement and lock timeouts on the connection).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from typing import TypeVar

from sqlalchemy import Engine

from scimgate.settings import Settings
from scimgate.store.database import KeptConnection, deadline

T = TypeVar("T")


class PoolBusyError(Exception):
    """No thread became free in time: the process is saturated."""


class AccountBusyError(Exception):
    """This account already has its share of threads busy."""


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
        self._inflight: dict[int, int] = {}
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    def _semaphore(self) -> asyncio.Semaphore:
        """One semaphore per event loop (tests run several apps on several loops)."""
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, asyncio.Semaphore(self.size))
        return self._slots[1]

    async def run(self, work: Callable[[KeptConnection], T]) -> T:
        """`work(connection)` on a free thread under the request deadline; PoolBusyError if none frees up."""
        slots = self._semaphore()
        try:
            await asyncio.wait_for(slots.acquire(), self.queue_seconds)
        except TimeoutError:
            raise PoolBusyError() from None
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.executor, self._call, work)
        finally:
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

    @contextmanager
    def account_slot(self, account_id: int) -> Iterator[None]:
        """Hold one of the account's slots for the rest of the request, or refuse at once."""
        with self._lock:
            busy = self._inflight.get(account_id, 0)
            if busy >= self.per_account:
                raise AccountBusyError()
            self._inflight[account_id] = busy + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._inflight[account_id] - 1
                if left:
                    self._inflight[account_id] = left
                else:
                    del self._inflight[account_id]

    def busy(self) -> int:
        """Threads working right now (for /metrics)."""
        with self._lock:
            return sum(self._inflight.values())

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

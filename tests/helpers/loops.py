"""Run a coroutine to completion from a test, whatever loop the test's thread already has.

The browser tests drive Playwright's sync API, whose event loop stays running on the main
thread for the whole session; `asyncio.run` there fails ("cannot be called from a running
event loop"). A thread of its own has no loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


def run_async(make: Callable[[], Awaitable[T]], timeout: float = 60.0) -> T:
    """`asyncio.run(make())` on a fresh thread; its result, or its exception re-raised here."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(_await(make))
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="test-loop")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"the coroutine did not finish within {timeout} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


async def _await(make: Callable[[], Awaitable[T]]) -> T:
    return await make()

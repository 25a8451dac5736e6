"""Start a synchronization on a thread of the serving process and learn its run id.

The console's Synchronize button must answer at once while a large run goes on; the run
reports progress through its `running` row (counts and heartbeat per batch), which the
page polls. The run is the same `synchronize()` the CLI and the scheduler call, with the
same lease: a second start is refused, and a process that dies mid-run is recovered by
the next run.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from scimgate.errors import InvalidValueError, NotFoundError, ServiceError
from scimgate.states import RunStatus
from scimgate.store import sync_runs as store
from scimgate.store.database import Engine
from scimgate.sync.engine import RunResult, SyncOptions, synchronize

log = logging.getLogger("scimgate.sync")


@dataclass
class Started:
    """What a background start knows after waiting a little: a finished result or a run id."""

    run_id: int | None
    result: RunResult | None = None


def start(
    engine: Engine,
    account_id: int,
    *,
    trigger: str,
    actor: str,
    confirm: int | None = None,
    options: SyncOptions | None = None,
    wait: float = 5.0,
) -> Started:
    """Run a sync on a new thread; return when it finished or its run row exists.

    `actor` is who asked (an admin's email, an API key): the audit log and a confirmed
    run name them.

    Errors the run raises before it exists (busy, not held, no such run) are raised here.
    """
    if confirm is not None:
        # Refused here when it is plainly not held (already running, finished, unknown), so
        # that a run somebody else is running is not mistaken for this confirmation starting.
        with engine.connect() as conn:
            held = store.get_run(conn, account_id, confirm)
        if held is None:
            raise NotFoundError(f"No sync run {confirm} in this account")
        if held["status"] != RunStatus.HELD:
            raise InvalidValueError(
                f"Run {confirm} is {held['status']}, not held: only a held run can be confirmed"
            )
    done = threading.Event()
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["result"] = synchronize(
                engine, account_id, trigger=trigger, confirm=confirm, options=options, actor=actor
            )
        except ServiceError as exc:
            outcome["error"] = exc
        except Exception as exc:  # recorded on the run as failed; the page shows it
            log.exception("synchronization of account %s failed", account_id)
            outcome["error"] = exc
        finally:
            done.set()

    before = _latest_run_id(engine, account_id)
    thread = threading.Thread(target=target, name=f"sync-{account_id}", daemon=True)
    thread.start()
    deadline = time.monotonic() + wait
    while not done.wait(0.05):
        running = _running_id(engine, account_id)
        if running is not None and (
            running == confirm or (confirm is None and (before is None or running > before))
        ):
            return Started(running)
        if time.monotonic() > deadline:
            return Started(None)
    error = outcome.get("error")
    if isinstance(error, ServiceError):
        raise error
    result = outcome.get("result")
    if isinstance(result, RunResult):
        return Started(result.run_id, result)
    return Started(_latest_run_id(engine, account_id))


def _running_id(engine: Engine, account_id: int) -> int | None:
    with engine.connect() as conn:
        running = store.running_run(conn, account_id)
    return running["id"] if running else None


def _latest_run_id(engine: Engine, account_id: int) -> int | None:
    with engine.connect() as conn:
        runs = store.list_runs(conn, account_id, limit=1)
    return runs[0]["id"] if runs else None

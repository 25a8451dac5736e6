"""The per-account provisioning request log: buffered in memory, written in batches, bounded.

SCIM requests are logged without a write of their own: entries are flushed about once a
second in one transaction, and old rows are pruned by age and by count per account.
Secrets never reach it: no headers are kept; query strings and bodies are kept with
anything that looks like a token or a password redacted, bodies cut to `MAX_BODY_CHARS`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import Engine, delete, insert, select

from scimgate.store.database import utcnow
from scimgate.store.tables import request_log

log = logging.getLogger("scimgate.request_log")

_SECRETS = re.compile(r"(?i)((?:token|secret|password|access_token|key)=)[^&]*|sgp_[A-Za-z0-9_-]+")
# JSON members whose values are secrets: SCIM's `password`, and anything named like a key.
_BODY_SECRETS = re.compile(
    r'(?i)("(?:password|secret|token|access_token|client_secret|api_key)"\s*:\s*)"(?:[^"\\]|\\.)*(?:"|$)'
)
MAX_BODY_CHARS = 8000
_KEEP_BODIES = 10_000  # pending entries beyond which new ones are queued without bodies
_PRUNE_EVERY = 10  # flushes: small, frequent prunes instead of one large delete a minute


def redact(text: str) -> str:
    """Blank out anything in a query string that could be a credential."""
    return _SECRETS.sub(lambda m: (m.group(1) or "") + "[redacted]", text)


_SECRET_KEYS = {"password", "secret", "token", "access_token", "client_secret", "api_key"}


def _scrub(value: Any) -> Any:
    """Secrets blanked in a JSON value, including a PATCH operation whose path is a password."""
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    path = value.get("path")
    secret_op = isinstance(path, str) and path.strip().lower().rsplit(":", 1)[-1] in _SECRET_KEYS
    for key, item in value.items():
        if key.lower() in _SECRET_KEYS or (secret_op and key.lower() == "value"):
            out[key] = "[redacted]"
        else:
            out[key] = _scrub(item)
    return out


def redact_body(raw: bytes | str | None) -> str | None:
    """A body as text for the log: secrets blanked, cut to MAX_BODY_CHARS."""
    if not raw:
        return None
    try:
        text = orjson.dumps(_scrub(orjson.loads(raw)), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:  # not JSON (or cut): blank what looks like a secret
        cut = raw if isinstance(raw, str) else raw[: MAX_BODY_CHARS * 4].decode("utf-8", "replace")
        text = _BODY_SECRETS.sub(lambda m: m.group(1) + '"[redacted]"', cut)
    text = redact(text)
    if len(text) > MAX_BODY_CHARS:
        text = text[:MAX_BODY_CHARS] + " … (cut)"
    return text


class RequestLogBuffer:
    """Collects entries from request handlers and writes them in batches."""

    def __init__(
        self, engine: Engine, *, max_rows: int, max_days: int, flush_seconds: float
    ) -> None:
        self.engine = engine
        self.max_rows = max_rows
        self.max_days = max_days
        self.flush_seconds = flush_seconds
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._flushes = 0
        self._touched: set[int] = set()  # accounts written since the last prune

    def add(self, entry: dict[str, Any]) -> None:
        """Queue one entry (called on the request path: no I/O)."""
        if self.max_rows <= 0:
            return
        query = entry.get("query") or ""
        entry["query"] = redact(query)[:2000] if query else ""
        entry["path"] = entry["path"][:1024]
        if entry.get("detail"):
            entry["detail"] = entry["detail"][:2000]
        for key in ("request_body", "response_body"):
            body = entry.get(key)
            if body and (len(body) > MAX_BODY_CHARS * 4 or len(self._pending) > _KEEP_BODIES):
                # Bounded memory: the log keeps MAX_BODY_CHARS anyway, and with a backlog
                # (the database is slow or gone) only the entries themselves are kept.
                entry[key] = (
                    body[: MAX_BODY_CHARS * 4] if len(self._pending) <= _KEEP_BODIES else None
                )
        with self._lock:
            self._pending.append(entry)
            if len(self._pending) > 100_000:  # the database is gone: keep memory bounded
                del self._pending[:50_000]

    def flush(self) -> int:
        """Write what is pending; prune now and then. Returns how many entries were written."""
        with self._lock:
            batch, self._pending = self._pending, []
        self._touched.update(entry["account_id"] for entry in batch)
        for entry in batch:  # here, off the request path: redaction parses the bodies
            entry["request_body"] = redact_body(entry.get("request_body"))
            entry["response_body"] = redact_body(entry.get("response_body"))
        if batch:
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(request_log), batch)
            except Exception:  # the log must never take the service down
                log.exception("could not write %d request log entries", len(batch))
                return 0
        self._flushes += 1
        if self._flushes % _PRUNE_EVERY == 1:
            self.prune()
        return len(batch)

    def prune(self) -> None:
        """Keep at most `max_rows` entries and none older than `max_days`, per account written to.

        Only accounts that received entries since the last prune can be over a bound, and
        each is pruned through its (account_id, id) and (account_id, at) indexes.
        """
        accounts, self._touched = self._touched, set()
        cutoff = utcnow() - timedelta(days=self.max_days)
        t = request_log
        try:
            with self.engine.begin() as conn:
                for account_id in accounts:
                    conn.execute(delete(t).where(t.c.account_id == account_id, t.c.at < cutoff))
                    boundary = conn.execute(
                        select(t.c.id)
                        .where(t.c.account_id == account_id)
                        .order_by(t.c.id.desc())
                        .offset(self.max_rows)
                        .limit(1)
                    ).scalar()
                    if boundary is not None:
                        conn.execute(
                            delete(t).where(t.c.account_id == account_id, t.c.id <= boundary)
                        )
        except Exception:
            log.exception("could not prune the request log")
            self._touched |= accounts

    async def run(self) -> None:
        """Flush periodically until cancelled, then once more."""
        try:
            while True:
                await asyncio.sleep(self.flush_seconds)
                # Off the event loop: a write of thousands of entries (or a prune) must not
                # stall the SCIM requests that keep arriving meanwhile.
                await asyncio.to_thread(self.flush)
        finally:
            self.flush()

"""Record and read the audit log: who changed what in an account, and when.

`record` is called by the service that makes a change, on the change's own connection
and transaction: a change that rolls back leaves no entry, and an entry is never
written for a change that did not happen. Each entry is also appended to the account's
event feed as one `audit.recorded` event (so it reaches webhooks in order with member
and team events).

Actors are plain strings, one form per door:

- a console admin: their email (`it@acme.example`);
- the command line: `cli:<OS user>` (`cli:alice`);
- an API key: `apikey:<prefix>`, with the key's name in parentheses when it has one;
- a setup link (the customer's IT admin on the guided setup pages): `setuplink:<prefix>`;
- the scheduler: `daily sync`;
- any other caller in this process that names nobody: `local:<OS user>`.

Details never carry a secret (token, key, webhook secret, password): `record` refuses a
field named like one (a programming mistake fails loudly in tests), and cuts any value
shaped like a whole token, key or signing secret (say, pasted as a name) to its prefix.
"""

from __future__ import annotations

import getpass
import os
import re
from typing import Any

from sqlalchemy import Connection

from scimgate.errors import InvalidValueError
from scimgate.events import EventType, audit_recorded
from scimgate.store import audit as store
from scimgate.store import events as event_store
from scimgate.store.database import utcnow

SCHEDULER = "daily sync"
EVENT_TYPE = EventType.AUDIT_RECORDED
MAX_CURSOR = 2**62
_SECRET_KEYS = frozenset({"token", "key", "secret", "password", "password_hash", "csrf_token"})
# A whole secret anywhere in a text: a token, key or setup link (prefix + 43 URL-safe characters) or
# a webhook signing secret (whsec_ + 32 base64 characters).
_SECRET_VALUE = re.compile(
    r"(sg[pks]_[A-Za-z0-9_-]{8})[A-Za-z0-9_-]{35}|(whsec_)[A-Za-z0-9+/=]{32}"
)


def _os_user() -> str:
    """The OS user running this process (its uid when the name cannot be found)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}"


def cli_actor() -> str:
    """Whoever runs a command: `cli:` and their OS user name."""
    return f"cli:{_os_user()}"


def console_actor(email: str) -> str:
    """A signed-in admin: their email."""
    return email


def api_key_actor(prefix: str, name: str = "") -> str:
    """An API key: its prefix (never the key) and its name, if it has one."""
    name = " ".join((name or "").split())[:200]
    return f"apikey:{prefix}" + (f" ({name})" if name else "")


def setup_link_actor(prefix: str) -> str:
    """A setup link: its prefix (never the whole link)."""
    return f"setuplink:{prefix}"


def local_actor() -> str:
    """A caller in this process that named nobody (a script, a test): its OS user."""
    return f"local:{_os_user()}"


def record(
    conn: Connection,
    account_id: int,
    *,
    actor: str | None,
    action: str,
    target: str,
    details: dict[str, Any] | None = None,
) -> int:
    """Write one entry and its `audit.recorded` event in the caller's transaction.

    Raises ValueError when `details` has a field named like a secret.
    """
    _refuse_secret_fields(details or {})
    details = _redacted(details or {})
    actor = _redacted((actor or local_actor())[:320])
    target = _redacted(target[:512])
    now = utcnow()
    entry_id = store.insert_entry(
        conn, account_id, at=now, actor=actor, action=action, target=target, details=details
    )
    event = audit_recorded(entry_id, actor=actor, action=action, target=target, details=details)
    event_store.append(conn, account_id, [event], now)
    return entry_id


def _refuse_secret_fields(value: Any) -> None:
    """No field named like a secret, at any depth."""
    if isinstance(value, dict):
        for k, v in value.items():
            if str(k).lower() in _SECRET_KEYS:
                raise ValueError(f"audit details cannot hold {k!r}: it is a secret")
            _refuse_secret_fields(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _refuse_secret_fields(v)


def _redacted(value: Any) -> Any:
    """The value with every whole secret in its texts cut to its prefix and an ellipsis."""
    if isinstance(value, str):
        return _SECRET_VALUE.sub(lambda m: (m.group(1) or m.group(2)) + "…", value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted(v) for v in value]
    return value


def parse_cursor(cursor: str | None) -> int | None:
    """The entry id a page continues before; a cursor we did not hand out is refused.

    Raises InvalidValueError for anything but the decimal id of an entry.
    """
    if cursor is None or cursor == "":
        return None
    if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 19:
        raise InvalidValueError(f"{cursor[:40]!r} is not a cursor of this list")
    value = int(cursor)
    if not 1 <= value <= MAX_CURSOR:
        raise InvalidValueError(f"{cursor[:40]!r} is not a cursor of this list")
    return value


def list_page(
    conn: Connection, account_id: int, *, cursor: str | None = None, limit: int = 50
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the account's entries, newest first, and the cursor of the next page
    (None on the last one)."""
    before = parse_cursor(cursor)
    rows = store.list_entries(conn, account_id, before=before, limit=limit + 1)
    if len(rows) > limit:
        return rows[:limit], str(rows[limit - 1]["id"])
    return rows, None

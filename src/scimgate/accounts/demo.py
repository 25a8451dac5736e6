"""The demo account `scimgate demo` (and `make run`) sets up: made once, kept after.

A re-run finds what the first run made and changes nothing that works: the Secret Token
and the admin's password stay valid (they were printed once, and are not kept in clear
anywhere). Only what is missing is made again: a live token if every one was revoked or
provisioning was deactivated, the admin if there is none.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from scimgate.accounts import service as accounts
from scimgate.admins import service as admins
from scimgate.errors import NotFoundError
from scimgate.store import accounts as store


@dataclass(frozen=True)
class DemoSetup:
    """What this run made: None for what already existed and still works."""

    account: dict[str, Any]
    created: bool  # the account itself
    token: str | None  # a new Secret Token, printed once
    token_prefixes: tuple[str, ...]  # the live tokens' first characters
    password: str | None  # the new admin's password, printed once


def prepare_demo(
    conn: Connection,
    *,
    admin_email: str,
    slug: str = "demo",
    name: str = "Demo Company",
    actor: str | None = None,
) -> DemoSetup:
    """The demo account entitled, active, with a live token and an admin; made if missing."""
    who: dict[str, Any] = {"actor": actor} if actor is not None else {}
    created = False
    try:
        row = store.get_account(conn, slug)
    except NotFoundError:
        row = accounts.create_account(conn, slug, name=name, entitled=True, **who)
        created = True
    if not row["provisioning_entitled"]:
        row = accounts.entitle(conn, row["id"], **who)
    token = None
    live = [t for t in store.list_tokens(conn, row["id"]) if t["revoked_at"] is None]
    if not row["provisioning_active"] or not live:
        if row["provisioning_active"]:
            token = accounts.issue_token(conn, row["id"], name="demo", **who).token
        else:
            token = accounts.activate_provisioning(conn, row["id"], **who).token
        live = [t for t in store.list_tokens(conn, row["id"]) if t["revoked_at"] is None]
    password = None
    if not any(a["email"] == admin_email for a in admins.list_admins(conn, row["id"])):
        password = secrets.token_urlsafe(12)
        admins.create_admin(conn, row["id"], admin_email, password, **who)
    return DemoSetup(
        account=store.get_account(conn, slug),
        created=created,
        token=token,
        token_prefixes=tuple(t["prefix"] for t in live),
        password=password,
    )

"""Helpers for the Synchronize tests: stage users and groups through the SCIM API, run a
sync, and read members, teams, runs and items back through the services."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from scimgate.members import service as members
from scimgate.store import members as member_store
from scimgate.store import property_values as value_store
from scimgate.store import sync_items, sync_runs
from scimgate.store.database import utcnow
from scimgate.sync.engine import RunResult, SyncOptions, synchronize
from tests.helpers.scim import user_body

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ACME = "urn:ietf:params:scim:schemas:extension:Acme:2.0:User"
ZERO_MEMBER_CHANGES = {"created": 0, "updated": 0, "deactivated": 0, "reactivated": 0, "errors": 0}


def ops(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def create_user(scim: Any, email: str, **extra: Any) -> str:
    """Stage one Entra-shaped user; returns its directory id."""
    extra.setdefault("displayName", email.split("@", maxsplit=1)[0].title())
    r = scim.post("/Users", json=user_body(email, **extra))
    assert r.status_code == 201, r.text
    return r.json()["id"]


def create_users(
    scim: Any, n: int, prefix: str = "user", domain: str = "example.com", **extra: Any
) -> list[str]:
    """Stage n users prefix00@domain … ; returns their directory ids in that order."""
    return [create_user(scim, f"{prefix}{i:02d}@{domain}", **extra) for i in range(n)]


def set_active(scim: Any, user_id: str, value: Any = "False") -> None:
    """Entra's way of (un)assigning a user: Replace active with the string "False"/"True"."""
    r = scim.patch(
        f"/Users/{user_id}", json=ops({"op": "Replace", "path": "active", "value": value})
    )
    assert r.status_code == 200, r.text


def patch_user(scim: Any, user_id: str, path: str, value: Any) -> None:
    r = scim.patch(f"/Users/{user_id}", json=ops({"op": "Replace", "path": path, "value": value}))
    assert r.status_code == 200, r.text


def delete_user(scim: Any, user_id: str) -> None:
    r = scim.delete(f"/Users/{user_id}")
    assert r.status_code == 204, r.text


def create_group(scim: Any, name: str, member_ids: list[str] = ()) -> str:
    r = scim.post(
        "/Groups", json={"displayName": name, "members": [{"value": m} for m in member_ids]}
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def patch_group(scim: Any, group_id: str, *operations: dict[str, Any]) -> None:
    r = scim.patch(f"/Groups/{group_id}", json=ops(*operations))
    assert r.status_code == 204, r.text  # a Group PATCH without attributes: no body


def sync(engine: Engine, account_id: int, **kw: Any) -> RunResult:
    kw.setdefault("options", SyncOptions(batch_size=kw.pop("batch_size", 1000)))
    return synchronize(engine, account_id, **kw)


def member_docs(engine: Engine, account_id: int, **kw: Any) -> dict[str, dict[str, Any]]:
    """Members keyed by lower-cased email (or name when no email)."""
    with engine.connect() as conn:
        docs = members.member_documents(conn, account_id, **kw)
    return {(d["email"] or d["name"]).lower(): d for d in docs}


def teams(engine: Engine, account_id: int) -> dict[str, list[str]]:
    """Team name -> member emails."""
    with engine.connect() as conn:
        return {t["name"]: t["members"] for t in members.list_teams(conn, account_id)}


def team_rows(engine: Engine, account_id: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return members.list_teams(conn, account_id)


def runs(engine: Engine, account_id: int) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return sync_runs.list_runs(conn, account_id, limit=1000)


def get_run(engine: Engine, account_id: int, run_id: int) -> dict[str, Any] | None:
    with engine.connect() as conn:
        return sync_runs.get_run(conn, account_id, run_id)


def items(engine: Engine, account_id: int, run_id: int, **kw: Any) -> list[dict[str, Any]]:
    kw.setdefault("limit", 10_000)
    with engine.connect() as conn:
        return sync_items.list_items(conn, account_id, run_id, **kw)


def property_id(engine: Engine, account_id: int, name: str) -> str:
    with engine.connect() as conn:
        return member_store.find_property(conn, account_id, name)["id"]


def add_property(
    engine: Engine, account_id: int, name: str, kind: str, options: list[str] | None = None
) -> str:
    with engine.begin() as conn:
        return members.create_property(conn, account_id, name, kind, options)["id"]


def set_manual_value(
    engine: Engine, account_id: int, member_id: str, prop_id: str, value: Any
) -> None:
    with engine.begin() as conn:
        value_store.set_value(
            conn, account_id, member_id, prop_id, value, source="manual", now=utcnow()
        )

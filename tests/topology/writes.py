"""Concurrent SCIM writes from many clients, spread over a server's worker processes.

Each client creates users, PATCHes each one (Entra style: `Replace`, `"False"`), and adds
it to one group that every client adds to at once: a lost update there loses members.
A 503 (the database was busy past its deadline) is retried after a short wait, as an IdP
retries it; any other 5xx fails the run.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
RETRIES = 20


@dataclass
class Outcome:
    statuses: Counter[int] = field(default_factory=Counter)
    retried: int = 0
    failures: list[str] = field(default_factory=list)
    user_ids: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _send(client: httpx.Client, outcome: Outcome, method: str, path: str, **kw: Any) -> Any:
    for _ in range(RETRIES):
        r = client.request(method, path, **kw)
        with outcome.lock:
            outcome.statuses[r.status_code] += 1
        if r.status_code != 503:
            if r.status_code >= 300:
                with outcome.lock:
                    outcome.failures.append(f"{method} {path}: {r.status_code} {r.text[:300]}")
            return r
        assert r.headers.get("retry-after"), r.text
        with outcome.lock:
            outcome.retried += 1
        time.sleep(0.2)
    raise AssertionError(f"{method} {path} still answered 503 after {RETRIES} tries")


def concurrent_writes(
    base: str,
    token: str,
    *,
    clients: int,
    users_each: int,
    prefix: str,
    verify: ssl.SSLContext | bool = True,
) -> tuple[Outcome, str]:
    """Run the writes; (what happened, the shared group's id)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    outcome = Outcome()
    with httpx.Client(base_url=base, headers=headers, timeout=60, verify=verify) as c:
        r = c.post("/Groups", json={"schemas": [GROUP], "displayName": f"{prefix} everyone"})
        assert r.status_code == 201, r.text
        group_id = r.json()["id"]

    def client(n: int) -> None:
        for i in range(users_each):
            # A new connection for each user: the kernel spreads them over the workers.
            with httpx.Client(base_url=base, headers=headers, timeout=60, verify=verify) as c:
                name = f"{prefix}-{n}-{i}@example.com"
                body = {"schemas": [USER], "userName": name, "externalId": f"{prefix}-{n}-{i}"}
                body |= {"active": True, "emails": [{"type": "work", "value": name}]}
                r = _send(c, outcome, "POST", "/Users", json=body)
                if r.status_code != 201:
                    continue
                uid = r.json()["id"]
                with outcome.lock:
                    outcome.user_ids.append(uid)
                ops = [
                    {"op": "Replace", "path": "active", "value": "False"},
                    {"op": "Replace", "path": "displayName", "value": f"D {n} {i}"},
                ]
                _send(
                    c,
                    outcome,
                    "PATCH",
                    f"/Users/{uid}",
                    json={"schemas": [PATCH_OP], "Operations": ops},
                )
                add = [{"op": "Add", "path": "members", "value": [{"value": uid}]}]
                _send(
                    c,
                    outcome,
                    "PATCH",
                    f"/Groups/{group_id}",
                    json={"schemas": [PATCH_OP], "Operations": add},
                )

    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client, n) for n in range(clients)]:
            future.result()
    return outcome, group_id


def check_nothing_lost(
    base: str,
    token: str,
    outcome: Outcome,
    group_id: str,
    *,
    expected_users: int,
    verify: ssl.SSLContext | bool = True,
) -> None:
    """Every write answered 2xx; every user, PATCH and membership is there."""
    assert not outcome.failures, outcome.failures[:5]
    assert not [s for s in outcome.statuses if s >= 500 and s != 503], outcome.statuses
    assert len(outcome.user_ids) == expected_users
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60, verify=verify) as c:
        users = c.get("/Users", params={"count": 1000}).json()
        assert users["totalResults"] == expected_users, users["totalResults"]
        assert all(u["active"] is False for u in users["Resources"])
        assert all(u["displayName"].startswith("D ") for u in users["Resources"])
        group = c.get(f"/Groups/{group_id}").json()
        assert sorted(m["value"] for m in group.get("members", [])) == sorted(outcome.user_ids)

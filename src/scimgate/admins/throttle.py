"""Sign-in throttling: a client IP that keeps failing has to wait; nobody is locked out.

Failed sign-ins (and wrong current passwords on the change-password form) are counted in
the database, so every `serve` process sees the same counts, under four keys:

- the client IP (an IPv6 address counts as its /64): after `ip_max_failures` failures it
  waits `backoff`, then twice as long after each further failure, up to `backoff_max`;
- (account, IP): the same allowance, for one account from one IP. A successful sign-in
  clears the IP's counts for that account and its global count, but never another
  account's, so signing in to an account of one's own does not buy more guesses;
- the account, from every IP, and (account, email): when either reaches its ceiling
  (`account_max_failures`, `email_max_failures`) the account is under attack, and then an
  IP that has failed against it waits from its first failure. An IP with no failures
  against the account is never held back: an attacker elsewhere cannot keep the real
  admin out, only slow down the IPs that guess.

The account and email are counted as typed, whether or not they exist, and every wait
reads the same: the counts tell nobody which accounts or addresses are real. A count
starts again after `window` without a failure. Waits are decided before the password is
checked; an attempt refused for waiting costs no argon2 verification and is not counted.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from scimgate.store import accounts as account_store
from scimgate.store import admins as store
from scimgate.store.database import as_utc

if TYPE_CHECKING:
    from scimgate.settings import Settings

MAX_DOUBLINGS = 30  # 2**30 times the first wait is far past any cap


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many failures are free and how long a client waits after them."""

    ip_max_failures: int = 10
    account_max_failures: int = 30
    email_max_failures: int = 5
    window: timedelta = timedelta(hours=1)
    backoff: timedelta = timedelta(seconds=5)
    backoff_max: timedelta = timedelta(minutes=15)

    @classmethod
    def from_settings(cls, settings: Settings) -> ThrottlePolicy:
        """The policy as configured (SCIMGATE_LOGIN_*)."""
        return cls(
            ip_max_failures=settings.login_ip_max_failures,
            account_max_failures=settings.login_account_max_failures,
            email_max_failures=settings.login_email_max_failures,
            window=timedelta(seconds=settings.login_window_seconds),
            backoff=timedelta(seconds=settings.login_backoff_seconds),
            backoff_max=timedelta(seconds=settings.login_backoff_max_seconds),
        )

    def wait_after(self, excess: int) -> timedelta:
        """The wait after the free failures plus `excess` (0: the first wait)."""
        return min(self.backoff_max, self.backoff * 2 ** min(excess, MAX_DOUBLINGS))


def client_key(ip: str | None) -> str:
    """What one client is counted as: its address, or its /64 for IPv6."""
    text = (ip or "").strip()[:64] or "unknown"
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


@dataclass(frozen=True)
class Attempt:
    """A sign-in attempt's counting keys: account and email as typed, and the client."""

    slug: str
    email: str
    ip: str | None

    def keys(self) -> dict[str, str]:
        """{scope: key} for the four counts."""
        client, slug, email = client_key(self.ip), self.slug.lower(), self.email.lower()
        values = {
            "ip": client,
            "account_ip": f"{slug}\n{client}",
            "account": slug,
            "email": f"{slug}\n{email}",
        }
        return {scope: _key(scope, value) for scope, value in values.items()}


def _key(scope: str, value: str) -> str:
    return hashlib.sha256(f"{scope}\n{value}".encode()).hexdigest()


def wait_left(
    conn: Connection, policy: ThrottlePolicy, attempt: Attempt, now: datetime
) -> timedelta:
    """How long this client must still wait before its attempt is checked (zero: go on)."""
    keys = attempt.keys()
    rows = store.get_throttles(conn, keys.values())
    counts: dict[str, tuple[int, datetime]] = {}
    for scope, key in keys.items():
        row = rows.get(key)
        if row is not None and now - as_utc(row["last_failure_at"]) <= policy.window:
            counts[scope] = (row["failures"], as_utc(row["last_failure_at"]))
    under_attack = (
        counts.get("account", (0, now))[0] >= policy.account_max_failures
        or counts.get("email", (0, now))[0] >= policy.email_max_failures
    )
    free = {
        "ip": policy.ip_max_failures,
        "account_ip": 1 if under_attack else policy.ip_max_failures,
    }
    left = timedelta(0)
    for scope, allowed in free.items():
        failures, last = counts.get(scope, (0, now))
        if failures >= allowed:
            left = max(left, last + policy.wait_after(failures - allowed) - now)
    return left


def seconds(left: timedelta) -> int:
    """A wait as whole seconds for Retry-After and the message (at least 1)."""
    return max(1, math.ceil(left.total_seconds()))


def record_failure(
    conn: Connection, policy: ThrottlePolicy, attempt: Attempt, now: datetime
) -> None:
    """Count a failure under all four keys, and drop counts nobody has added to lately."""
    keys = attempt.keys()
    store.count_failures(
        conn,
        {key: scope for scope, key in keys.items()},
        now=now,
        forget_before=now - policy.window,
    )
    store.prune_throttles(conn, now - policy.window)


def record_success(conn: Connection, attempt: Attempt) -> None:
    """The client proved it knows the password: forget its failures and the address's.

    The account's count stays: an attack on it may still be going on from elsewhere.
    """
    keys = attempt.keys()
    store.clear_throttles(conn, [keys["ip"], keys["account_ip"], keys["email"]])


def forget_email(conn: Connection, account_id: int, email: str) -> None:
    """A new password was set for this address: its count starts again."""
    slug = account_store.get_account_by_id(conn, account_id)["slug"]  # counted by slug
    store.clear_throttles(conn, [Attempt(slug, email, None).keys()["email"]])

"""Token-bucket rate limits per credential and per account, in memory, with bounded memory.

Each process of `serve --workers N` enforces 1/N of the configured rate and burst:
connections are spread over the workers by the kernel, so together they admit at
most the configured rate without a database write per request (docs/operations.md).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

MAX_KEYS = 50_000  # buckets kept per limiter; the least recently used go first


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """Buckets of `burst` tokens refilled at `rate` per second, one per key."""

    def __init__(self, rate: float, burst: float, *, workers: int = 1) -> None:
        self.rate = rate / workers
        self.burst = max(1.0, burst / workers)
        self._buckets: OrderedDict[object, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: object, now: float | None = None, *, cost: float = 1.0) -> float:
        """Spend `cost` tokens, all or none: 0.0 if allowed, else the seconds until they are
        available. A cost above the burst can never be paid (the caller refuses it first,
        `SurfaceLimits.largest_cost`): charging it the burst let a Bulk of 1,000 pay 500."""
        now = time.monotonic() if now is None else now
        cost = max(cost, 1.0)
        if cost > self.burst:
            raise ValueError(f"a cost of {cost} can never be paid from a burst of {self.burst}")
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(self.burst, now)
                if len(self._buckets) > MAX_KEYS:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(key)
                bucket.tokens, bucket.stamp = self._refilled(bucket, now), now
            if bucket.tokens >= cost:
                bucket.tokens -= cost
                return 0.0
            return (cost - bucket.tokens) / self.rate

    def wait(self, key: object) -> float:
        """Seconds until `key` has a token, without spending one."""
        now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get(key)
            tokens = self.burst if bucket is None else self._refilled(bucket, now)
        return 0.0 if tokens >= 1.0 else self._until_one(tokens)

    def _refilled(self, bucket: _Bucket, now: float) -> float:
        """The bucket's tokens at `now`: what it had, plus the refill since, up to the burst."""
        return min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)

    def _until_one(self, tokens: float) -> float:
        return (1.0 - tokens) / self.rate


class SurfaceLimits:
    """The limits of one surface (SCIM or the host API): per credential and per account."""

    def __init__(self, rate: float, burst: float, *, workers: int, enabled: bool) -> None:
        self.enabled = enabled
        self.credential = RateLimiter(rate, burst, workers=workers)
        self.account = RateLimiter(rate, burst, workers=workers)
        # Requests whose credential was refused: per client address, so a flood of
        # made-up tokens costs a dictionary look-up, not a database query each.
        self.refused = RateLimiter(max(rate / 10, 1.0), max(burst / 10, 10.0), workers=workers)

    def before_auth(
        self, credential: str | None, client: str, *, exempt: bool = False
    ) -> tuple[str, float] | None:
        """The limit a request hits before its credential is looked up, and the seconds to
        wait: its address after refused credentials (unless `exempt`), then its credential."""
        if not exempt and (wait := self.refused_waiting(client)):
            return "refused_credentials", wait
        if credential and (wait := self.check_credential(credential)):
            return "credential", wait
        return None

    def check_credential(self, credential: str) -> float:
        """Seconds to wait before this credential may be used again (0 when allowed)."""
        return self.credential.take(credential) if self.enabled else 0.0

    def check_account(self, account_id: int, cost: int = 1) -> float:
        """Seconds to wait before this account may make a request costing `cost` (a Bulk
        costs its operations), 0 when allowed and then charged."""
        return self.account.take(account_id, cost=cost) if self.enabled else 0.0

    def largest_cost(self) -> int | None:
        """The largest request an account's bucket can ever pay (its burst in this worker),
        or None without limits: a Bulk of more operations is refused up front (413)."""
        return int(self.account.burst) if self.enabled else None

    def check_refused(self, client: str) -> float:
        """Spend one of a client address's refused-credential tokens."""
        return self.refused.take(client) if self.enabled else 0.0

    def refused_waiting(self, client: str) -> float:
        """Seconds this address must wait after refused credentials, without spending a token."""
        return self.refused.wait(client) if self.enabled else 0.0

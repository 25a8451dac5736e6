"""Tokens that authenticated lately: who may skip the refused-credential limit and queue
for their account's share of the request threads before the database has answered."""

from __future__ import annotations


class KnownTokens:
    """Tokens that authenticated lately, and their account.

    Their requests skip the refused-credential limit (that limit is per client address,
    and an IdP's addresses are shared by its customers: one tenant's revoked token must
    not slow down another tenant calling from there), and they queue for their account's
    share of the request threads before the database says whose they are. Only those two
    decisions use it: every request is still authenticated against the database, so a
    revoked token stops working on its next request.
    """

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._seen: dict[str, int] = {}

    def add(self, token: str, account_id: int) -> None:
        if self._seen.get(token) != account_id:
            if len(self._seen) >= self.size:
                self._seen.pop(next(iter(self._seen)))
            self._seen[token] = account_id

    def discard(self, token: str | None) -> None:
        if token:
            self._seen.pop(token, None)

    def account(self, token: str | None) -> int | None:
        return self._seen.get(token) if token else None

    def __contains__(self, token: object) -> bool:
        return token in self._seen

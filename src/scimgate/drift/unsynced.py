"""Staged users no member mirrors, and why: the reasons Synchronize itself would give.

A batch of such users is mapped with the account's mapping and put through the member
pass's own e-mail claim (`sync.emails.claim_emails`), so "inactive in the identity
provider" and "the e-mail is already used by ..." are decided by the rules a run applies;
an error the last run recorded for the user is shown as it recorded it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from scimgate.mapping.mapper import Mapped, Mapper
from scimgate.states import RunStatus
from scimgate.store import drift as store
from scimgate.store import driver
from scimgate.store import sync_batches as batches
from scimgate.store.drift import FinishedRun, UnsyncedRow
from scimgate.sync.changes import person_label
from scimgate.sync.emails import claim_emails, who
from scimgate.sync.references import staged_people


class Reason:
    """Why a staged user is not a member (an item's `reason`)."""

    INACTIVE = "inactive"
    EMAIL_TAKEN = "email_taken"
    FAILED = "failed"
    NEVER_RUN = "never_run"
    RUN_FAILED = "run_failed"
    WAITING = "waiting"


@dataclass(frozen=True)
class Unsynced:
    """What the classification needs once per report: the mapping and the last run."""

    account_id: int
    mapper: Mapper
    last_run: FinishedRun | None

    def items(
        self, conn: Connection, after: str, batch: int
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(directory id, item) for every staged user without a member, from `after` on."""
        while True:
            rows = store.unsynced_batch(conn, self.account_id, after, batch)
            yield from (
                (r.id, item) for r, item in zip(rows, self.classify(conn, rows), strict=True)
            )
            if len(rows) < batch:
                return
            after = rows[-1].id

    def classify(self, conn: Connection, rows: list[UnsyncedRow]) -> list[dict[str, Any]]:
        """One item per row, in order, with its reason and a sentence saying it."""
        mapped = [self.mapper.apply(driver.load_json(r.doc)) for r in rows]
        emails = {m.fields["email"].lower() for m in mapped if m.fields.get("email")}
        owners = batches.members_by_email(conn, self.account_id, list(emails)) if emails else {}
        claims = claim_emails(rows, mapped, owners)
        reasons: dict[str, tuple[str, str]] = {}
        others = [c.other for c in claims.conflicts]
        people = staged_people(conn, self.account_id, others) if others else {}
        for c in claims.conflicts:
            reasons[c.row.id] = (
                Reason.EMAIL_TAKEN,
                f"the e-mail {c.email} is already used by {who(c.other, people)}",
            )
        for row in rows:
            if not row.active and row.id not in reasons:
                reasons[row.id] = (Reason.INACTIVE, "inactive in the identity provider")
        linked = {t.row.id: t.member for t in claims.compare if t.link}
        rest = [r for r in rows if r.id not in reasons]
        reasons.update(self._by_last_run(conn, rest))
        return [
            _item(row, result, *reasons.get(row.id) or self._waiting(result, linked.get(row.id)))
            for row, result in zip(rows, mapped, strict=True)
        ]

    def _by_last_run(self, conn: Connection, rows: list[UnsyncedRow]) -> dict[str, tuple[str, str]]:
        """Users the last run recorded an error for, and those a failed run never reached:
        staged before it began (a user staged or changed since is waiting for the next)."""
        run = self.last_run
        if run is None:
            return {r.id: (Reason.NEVER_RUN, "no Synchronize has run yet") for r in rows}
        out: dict[str, tuple[str, str]] = {}
        ids = [r.id for r in rows]
        errors = store.run_errors(conn, self.account_id, run.id, ids) if ids else {}
        for user_id, error in errors.items():
            out[user_id] = (Reason.FAILED, f"the last run ({run.id}) recorded an error: {error}")
        if run.status == RunStatus.FAILED:
            why = (
                f"the last run ({run.id}) failed before reaching them: {run.detail or 'no detail'}"
            )
            out.update(
                {
                    r.id: (Reason.RUN_FAILED, why)
                    for r in rows
                    if r.id not in out and r.staged_at < run.started_at
                }
            )
        return out

    def _waiting(self, result: Mapped, link: Any) -> tuple[str, str]:
        """A user the next run will create (or link to a manual member)."""
        since = f" (staged or changed since run {self.last_run.id})" if self.last_run else ""
        text = f"waiting for the next run{since}"
        if link is not None:
            text += f": it will be linked to the existing member {link.name} ({link.email})"
        if result.errors:
            problems = "; ".join(f"{k}: {v}" for k, v in result.errors.items())
            text += f"; it will be created with errors: {problems}"
        return Reason.WAITING, text


def _item(row: UnsyncedRow, mapped: Mapped, reason: str, detail: str) -> dict[str, Any]:
    return {
        "directory_user_id": row.id,
        "person": person_label(row.display_name, row.user_name),
        "user_name": row.user_name,
        "display_name": row.display_name,
        "email": mapped.fields.get("email"),
        "active": bool(row.active),
        "reason": reason,
        "detail": detail,
    }

"""The first pass of a run: members whose directory user was deleted from staging are
deactivated (their data kept) and unlinked."""

from __future__ import annotations

from scimgate.states import ItemAction, MemberSource, MemberStatus
from scimgate.store import sync_batches as batches
from scimgate.store import sync_members
from scimgate.store.sync_batches import MemberOwner, RemovedRow
from scimgate.sync.context import RunContext
from scimgate.sync.keyset import Keyset
from scimgate.sync.recorder import Recorder


def removed_pass(run: RunContext, rec: Recorder) -> None:
    """Deactivate and unlink members whose directory user is gone."""
    aid, now = run.account_id, run.clock()
    keyset: Keyset[str, RemovedRow] = Keyset(
        lambda conn, after, size: batches.removed_batch(conn, aid, after, size),
        _member_id,
        "",
        run.options.batch_size,
    )
    for conn, rows in keyset.batches(run, rec.flush):
        for m in rows:
            if run.dry and m.email:  # unlinked: a staged user with its email may take it
                run.planned_emails[m.email.lower()] = MemberOwner(
                    m.id, m.email, m.name, MemberStatus.DEACTIVATED, MemberSource.SCIM, None
                )
            if m.status == MemberStatus.ACTIVE:
                run.counts["deactivated"] += 1
                rec.item(
                    kind="member",
                    action=ItemAction.DEACTIVATE,
                    subject_id=m.id,
                    label=f"{m.name} ({m.email})" if m.email and m.name != m.email else m.name,
                    email=m.email,
                    changes={
                        "status": [MemberStatus.ACTIVE, MemberStatus.DEACTIVATED],
                        "reason": [None, "removed from the directory"],
                    },
                )
        if not run.dry:
            sync_members.unlink_removed(conn, aid, [m.id for m in rows], now)


def _member_id(row: RemovedRow) -> str:
    return row.id

"""Events as the outbox stores them: (type, subject id, data), one builder per type.

Every writer of an event (the sync, the member and Property services, the audit log) builds
it here, so an event type's data has one shape wherever it is written.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from scimgate.events.types import EventType


class Event(NamedTuple):
    """One event to append (store.events.append); a tuple, as the outbox takes it."""

    type: str
    subject_id: str | None
    data: dict[str, Any]


# A sync item's member action to the event it writes ("unchanged" writes none).
MEMBER_EVENT_FOR_ACTION = {
    "create": EventType.MEMBER_CREATED,
    "update": EventType.MEMBER_UPDATED,
    "deactivate": EventType.MEMBER_DEACTIVATED,
    "reactivate": EventType.MEMBER_REACTIVATED,
}


def member_event(
    event_type: EventType,
    member_id: str,
    *,
    email: str | None,
    changes: dict[str, Any],
    sync_run_id: int | None = None,
) -> Event:
    """A member.* event: what changed, by field and Property name: {name: [old, new]}."""
    data = {"member_id": member_id, "email": email, "changes": changes, "sync_run_id": sync_run_id}
    return Event(event_type, member_id, data)


def member_created(member_id: str, *, email: str, name: str) -> Event:
    """A member added by hand (not by a sync)."""
    changes = {"name": [None, name], "email": [None, email]}
    return member_event(EventType.MEMBER_CREATED, member_id, email=email, changes=changes)


def member_updated(
    member_id: str, *, email: str | None, changes: dict[str, Any], sync_run_id: int | None = None
) -> Event:
    """A member's fields or Property values changed."""
    return member_event(
        EventType.MEMBER_UPDATED, member_id, email=email, changes=changes, sync_run_id=sync_run_id
    )


def team_created(team_id: str, *, name: str, directory_group_id: str) -> Event:
    """A team made from a staged group."""
    data = {"team_id": team_id, "name": name, "directory_group_id": directory_group_id}
    return Event(EventType.TEAM_CREATED, team_id, data)


def team_renamed(team_id: str, *, old: str, new: str) -> Event:
    """A team whose group was renamed."""
    return Event(EventType.TEAM_RENAMED, team_id, {"team_id": team_id, "name": [old, new]})


def team_removed(team_id: str, *, name: str) -> Event:
    """A team whose group is gone."""
    return Event(EventType.TEAM_REMOVED, team_id, {"team_id": team_id, "name": name})


def team_member_added(team_id: str, member_id: str) -> Event:
    """A member who joined a team (the subject is the team)."""
    return Event(EventType.TEAM_MEMBER_ADDED, team_id, {"team_id": team_id, "member_id": member_id})


def team_member_removed(team_id: str, member_id: str) -> Event:
    """A member who left a team (the subject is the team)."""
    data = {"team_id": team_id, "member_id": member_id}
    return Event(EventType.TEAM_MEMBER_REMOVED, team_id, data)


def audit_recorded(
    entry_id: int, *, actor: str, action: str, target: str, details: dict[str, Any]
) -> Event:
    """An audit entry, so it reaches webhooks in order with the changes (subject: its id)."""
    data = {"entry_id": entry_id, "actor": actor, "action": action, "target": target}
    return Event(EventType.AUDIT_RECORDED, str(entry_id), {**data, "details": details})

"""Outbox events: their types and how each is built (store.events writes and reads them)."""

from scimgate.events.builders import (
    MEMBER_EVENT_FOR_ACTION,
    Event,
    audit_recorded,
    member_created,
    member_event,
    member_updated,
    team_created,
    team_member_added,
    team_member_removed,
    team_removed,
    team_renamed,
)
from scimgate.events.types import CHANGE_TYPES, EVENT_TYPES, EventType

__all__ = [
    "CHANGE_TYPES",
    "EVENT_TYPES",
    "MEMBER_EVENT_FOR_ACTION",
    "Event",
    "EventType",
    "audit_recorded",
    "member_created",
    "member_event",
    "member_updated",
    "team_created",
    "team_member_added",
    "team_member_removed",
    "team_removed",
    "team_renamed",
]

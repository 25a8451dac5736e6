"""The types of the events in an account's outbox: what webhooks and /api/v1/events name."""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    """An event's `type`, as stored and delivered (a StrEnum: equal to the stored strings)."""

    MEMBER_CREATED = "member.created"
    MEMBER_UPDATED = "member.updated"
    MEMBER_DEACTIVATED = "member.deactivated"
    MEMBER_REACTIVATED = "member.reactivated"
    TEAM_CREATED = "team.created"
    TEAM_RENAMED = "team.renamed"
    TEAM_REMOVED = "team.removed"
    TEAM_MEMBER_ADDED = "team.member_added"
    TEAM_MEMBER_REMOVED = "team.member_removed"
    AUDIT_RECORDED = "audit.recorded"


# What an endpoint without a list of types receives: every member and team change.
CHANGE_TYPES = tuple(t.value for t in EventType if t is not EventType.AUDIT_RECORDED)
# Audit entries are delivered only to endpoints that name `audit.recorded` (endpoints made
# before the audit log keep receiving exactly what they did).
EVENT_TYPES = (*CHANGE_TYPES, EventType.AUDIT_RECORDED.value)

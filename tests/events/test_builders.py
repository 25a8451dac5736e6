"""Each event type has one builder, and builds the data shape webhooks and /api/v1 deliver."""

from __future__ import annotations

from scimgate import events
from scimgate.events import EventType


def test_event_types_are_the_stored_strings():
    assert EventType.MEMBER_CREATED == "member.created"
    assert {"member.created": 1}[EventType.MEMBER_CREATED] == 1  # same hash as the string
    assert events.CHANGE_TYPES == (
        "member.created",
        "member.updated",
        "member.deactivated",
        "member.reactivated",
        "team.created",
        "team.renamed",
        "team.removed",
        "team.member_added",
        "team.member_removed",
    )
    assert (*events.CHANGE_TYPES, "audit.recorded") == events.EVENT_TYPES
    assert all(type(t) is str for t in events.EVENT_TYPES)  # listed as plain strings


def test_member_events_are_the_tuples_the_outbox_takes():
    created = events.member_created("m1", email="ada@example.com", name="Ada")
    assert created == (
        "member.created",
        "m1",
        {
            "member_id": "m1",
            "email": "ada@example.com",
            "changes": {"name": [None, "Ada"], "email": [None, "ada@example.com"]},
            "sync_run_id": None,
        },
    )
    updated = events.member_updated("m1", email=None, changes={"Team": ["a", "b"]}, sync_run_id=7)
    assert updated.type == "member.updated" and updated.subject_id == "m1"
    assert updated.data == {
        "member_id": "m1",
        "email": None,
        "changes": {"Team": ["a", "b"]},
        "sync_run_id": 7,
    }
    assert events.MEMBER_EVENT_FOR_ACTION["deactivate"] == "member.deactivated"
    assert "unchanged" not in events.MEMBER_EVENT_FOR_ACTION


def test_team_and_audit_events():
    assert events.team_created("t1", name="Eng", directory_group_id="g1") == (
        "team.created",
        "t1",
        {"team_id": "t1", "name": "Eng", "directory_group_id": "g1"},
    )
    assert events.team_renamed("t1", old="Eng", new="R&D").data == {
        "team_id": "t1",
        "name": ["Eng", "R&D"],
    }
    assert events.team_removed("t1", name="Eng").data == {"team_id": "t1", "name": "Eng"}
    assert events.team_member_added("t1", "m1") == (
        "team.member_added",
        "t1",
        {"team_id": "t1", "member_id": "m1"},
    )
    assert events.team_member_removed("t1", "m1").type == "team.member_removed"
    recorded = events.audit_recorded(
        12, actor="cli:ada", action="token.issued", target="token 3", details={"prefix": "sgp_x"}
    )
    assert recorded == (
        "audit.recorded",
        "12",
        {
            "entry_id": 12,
            "actor": "cli:ada",
            "action": "token.issued",
            "target": "token 3",
            "details": {"prefix": "sgp_x"},
        },
    )

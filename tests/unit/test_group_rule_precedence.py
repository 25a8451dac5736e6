"""mapping.group_rules (pure): which rule sets a Property for a member, and whose stored
values a membership change made stale."""

from __future__ import annotations

from scimgate.mapping.group_rules import GroupRule, GroupRules


def rule(rule_id: int, group: str, prop: str, value: object, priority: int) -> GroupRule:
    return GroupRule(rule_id, group, group.title(), prop, value, priority)


RULES = GroupRules(
    [
        rule(3, "viewers", "role", "Viewer", 20),
        rule(1, "editors", "role", "Editor", 20),
        rule(2, "admins", "role", "Admin", 10),
        rule(4, "board", "vip", True, 100),
    ]
)


def test_lowest_priority_wins_then_the_older_rule():
    assert RULES.winners(frozenset()) == {}
    assert RULES.winners(frozenset({"viewers", "editors"}))["role"].id == 1
    assert RULES.winners(frozenset({"viewers", "editors", "admins"}))["role"].value == "Admin"
    both = RULES.winners(frozenset({"viewers", "board"}))
    assert {p: r.value for p, r in both.items()} == {"role": "Viewer", "vip": True}
    assert RULES.group_ids == {"viewers", "editors", "admins", "board"}
    assert RULES.property_ids == {"role", "vip"}


def test_stale_users_are_those_whose_rule_outcome_moved():
    groups = {
        "u1": frozenset({"admins"}),  # holds Admin: in step
        "u2": frozenset({"editors"}),  # holds Admin: moved to Editor
        "u3": frozenset({"board"}),  # holds nothing from a rule: gains VIP
    }
    held = {
        "u1": {"role": "Admin"},
        "u2": {"role": "Admin"},
        "u4": {"role": "Viewer"},  # left every ruled group: loses it
    }
    assert RULES.stale(groups, held) == {"u2", "u3", "u4"}
    assert not GroupRules()
    assert GroupRules().stale({}, {}) == set()

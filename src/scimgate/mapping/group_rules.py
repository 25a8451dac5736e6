"""Group rules compiled for a sync: which rule, if any, sets each Property of a member.

"Members of directory group G get Property P = V". Among the rules on one Property that
match a member's groups, the lowest priority number wins; on equal priorities the older
rule (lower id) wins. A rule that matches wins over the attribute mapping for its
Property; with none matching, the mapping (if any) fills it. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from scimgate.states import ValueSource

GROUP_SOURCE = ValueSource.GROUP.value  # the source of a Property value a group rule set


@dataclass(frozen=True, slots=True)
class GroupRule:
    """One rule as the sync applies it (group_name: the group's current name)."""

    id: int
    group_id: str
    group_name: str
    property_id: str
    value: Any
    priority: int

    @property
    def rank(self) -> tuple[int, int]:
        """Sort key: lower priority first, then the older rule."""
        return (self.priority, self.id)


class GroupRules:
    """An account's rules, ordered per Property by precedence."""

    def __init__(self, rules: Iterable[GroupRule] = ()) -> None:
        self.rules = sorted(rules, key=lambda r: r.rank)
        self.group_ids = frozenset(r.group_id for r in self.rules)
        self.property_ids = frozenset(r.property_id for r in self.rules)

    def __bool__(self) -> bool:
        return bool(self.rules)

    def winners(self, groups: frozenset[str]) -> dict[str, GroupRule]:
        """Property id -> the rule that sets it for a member of these groups."""
        won: dict[str, GroupRule] = {}
        if not groups:
            return won
        for rule in self.rules:  # in precedence order: the first per Property wins
            if rule.group_id in groups and rule.property_id not in won:
                won[rule.property_id] = rule
        return won

    def stale(
        self,
        groups: Mapping[str, frozenset[str]],
        held: Mapping[str, Mapping[str, Any]],
    ) -> set[str]:
        """Directory users whose stored group values differ from what the rules give now.

        `groups`: user -> their groups that have rules; `held`: user -> Property id ->
        value, of the values a rule set (source `group`). Such a user is recomputed even
        when neither its document nor the mapping moved (a membership change).
        """
        out: set[str] = set()
        for user in set(groups) | set(held):
            won = self.winners(groups.get(user, frozenset()))
            have = held.get(user, {})
            if set(won) != set(have) or any(have[p] != r.value for p, r in won.items()):
                out.add(user)
        return out

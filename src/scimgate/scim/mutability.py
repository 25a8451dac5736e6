"""Read-only attributes in a PATCH: an echo of the current value passes, a change is refused.

RFC 7644 §3.5.2: "a client MUST NOT modify an attribute that has mutability readOnly
or immutable", and an incompatible operation is an error (400 `mutability`, §3.12).
IdPs echo such attributes unchanged, though: Okta's path-less group rename carries the
group's `id`, Entra sometimes sends `id` or `meta` back as it read them. So the value
sent is compared with the current one (as the server renders it) and only a change is
refused; what was echoed is reported as ignored, never stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from scimgate.scim.errors import InvalidPathError, MutabilityError, ScimError
from scimgate.scim.schema import AttrDef, ResourceSchema

# The server-kept attributes (`id`, `meta`, a User's `groups`) as the resource renders them.
ServerView = Callable[[], dict[str, Any]]


class ReadOnly:
    """A PATCH's checks of read-only attributes: echoes go to `ignored`, changes raise."""

    def __init__(self, server: ServerView | None, ignored: list[str]) -> None:
        self.server = server
        self.ignored = ignored
        self._view: dict[str, Any] | None = None

    def current(self, name: str) -> Any:
        """A server-kept attribute's current value, the view read once, when first needed."""
        if self._view is None:
            self._view = self.server() if self.server is not None else {}
        return self._view.get(name)

    def check(
        self, op: str, label: str, attr: AttrDef, value: Any, current: Any, *, sub: str | None
    ) -> None:
        """`op` on `attr` (or its sub-attribute `sub`), whose value is `current`."""
        if sub is not None:
            sub_def = attr.sub_attr(sub)
            if sub_def is None:
                raise InvalidPathError(f"{attr.name!r} has no sub-attribute {sub!r}")
            current = sub_values(current, sub_def.name)
            attr = replace(sub_def, multi=attr.multi)
        self._refuse_if(changes(op, value, current, attr), label)

    def check_filtered(
        self, op: str, node: Any, attr: AttrDef, value: Any, matches: list[dict[str, Any]]
    ) -> None:
        """A value path (`groups[value eq "g"]`) whose filter selected `matches`: removing
        nothing, or sending what the matched elements already hold, changes nothing."""
        sub = attr.sub_attr(node.sub_attr) if node.sub_attr else None
        if node.sub_attr and sub is None:
            raise InvalidPathError(f"{attr.name!r} has no sub-attribute {node.sub_attr!r}")
        element = replace(attr, multi=False)
        if op == "remove":
            changed = bool(matches)
        else:
            changed = not matches or not all(
                same(value, m.get(sub.name), sub) if sub else same(value, m, element)
                for m in matches
            )
        self._refuse_if(changed, str(node))

    def _refuse_if(self, changed: bool, label: str) -> None:
        if changed:
            raise MutabilityError(
                f"Attribute {label!r} is read-only: it cannot be changed (RFC 7644 §3.5.2)"
            )
        self.ignored.append(label)


def empty(value: Any) -> bool:
    """Unassigned as SCIM sees it: null, an empty string, list or object (RFC 7643 §2.5)."""
    return value is None or value in ("", [], {})


def changes(op: str, value: Any, current: Any, attr: AttrDef) -> bool:
    """Whether `op` with `value` would change an attribute whose value is `current`."""
    if op == "remove":
        return not empty(current)
    return not same(value, current, attr, subset=op == "add")


def sub_values(current: Any, sub: str) -> Any:
    """A sub-attribute's current value: of the object, or of each element of a list."""
    if isinstance(current, dict):
        return current.get(sub)
    if isinstance(current, list):
        return [item.get(sub) for item in current if isinstance(item, dict)]
    return None


def member_sub_attribute_error(schema: ResourceSchema, sub: str) -> ScimError:
    """`members.value` and the like as a PATCH path: a member is changed whole, and its
    value, $ref and type are immutable (RFC 7643 §8.7.1)."""
    members = schema.attr("members")
    sub_def = members.sub_attr(sub) if members is not None else None
    whole = 'a member is added or removed whole (path "members" or members[value eq "<id>"])'
    if sub_def is not None and sub_def.mutability in ("immutable", "readOnly"):
        return MutabilityError(f"'members.{sub_def.name}' is {sub_def.mutability}: {whole}")
    return InvalidPathError(f"No path 'members.{sub}': {whole}")


def same(value: Any, current: Any, attr: AttrDef, *, subset: bool = False) -> bool:
    """Whether a sent value says what `current` says (`subset`: an add of values already there)."""
    if empty(value) or empty(current):
        return empty(value) and empty(current)
    if attr.multi:
        return _same_values(value, current, subset=subset)
    if attr.type == "complex":
        return _same_object(value, current, attr)
    if not isinstance(value, str) or not isinstance(current, str):
        return bool(value == current)
    return _same_text(value, current, attr)


def _same_values(value: Any, current: Any, *, subset: bool) -> bool:
    """Multi-valued: the same elements, by value, in any order (or a subset of them)."""
    sent = value if isinstance(value, list) else [value]
    have = current if isinstance(current, list) else [current]
    sent_keys = {_item_key(item) for item in sent}
    have_keys = {_item_key(item) for item in have}
    return sent_keys <= have_keys if subset else sent_keys == have_keys


def _same_object(value: Any, current: Any, attr: AttrDef) -> bool:
    """Complex: every sub-attribute sent says what the current one says."""
    if not isinstance(value, dict) or not isinstance(current, dict):
        return False
    for key, sub_value in value.items():
        sub = attr.sub_attr(str(key))
        if sub is None or not same(sub_value, current.get(sub.name), sub):
            return False
    return True


def _same_text(value: str, current: str, attr: AttrDef) -> bool:
    if attr.type == "dateTime":
        return _instant(value) is not None and _instant(value) == _instant(current)
    if attr.type == "reference" and current.startswith("/"):
        # The current location is rendered without the tenant URL: the sent one ends with it.
        return value == current or value.endswith(current)
    if attr.name == "version":
        return value.removeprefix("W/") == current.removeprefix("W/")
    return value == current if attr.case_exact else value.casefold() == current.casefold()


def _instant(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None


def _item_key(item: Any) -> Any:
    """A multi-valued element by its `value` (`groups`: the group id), else as sent."""
    if isinstance(item, dict):
        for key, inner in item.items():
            if str(key).lower() == "value":
                return inner if isinstance(inner, (str, int, float, bool)) else repr(inner)
        return repr(sorted(item.items(), key=lambda kv: str(kv[0])))
    return item if isinstance(item, (str, int, float, bool)) else repr(item)

"""A member's status and where a value came from, as stored (StrEnums: equal to the strings)."""

from __future__ import annotations

from enum import StrEnum

from scimgate.errors import InvalidValueError


class MemberStatus(StrEnum):
    """Whether a member counts as in the product; a sync deactivates, never deletes."""

    ACTIVE = "active"
    DEACTIVATED = "deactivated"


class MemberSource(StrEnum):
    """Who set a member (or a Property value): the SCIM sync, or an admin by hand."""

    SCIM = "scim"
    MANUAL = "manual"


_STATUSES = frozenset(MemberStatus)
_SOURCES = frozenset(MemberSource)


def check_filters(status: str | None, source: str | None) -> None:
    """Refuse a status or source filter that names none (a listing's query parameters).

    Raises:
        InvalidValueError: the status or the source is not one of the values above.
    """
    if status is not None and status not in _STATUSES:
        raise InvalidValueError("status is active or deactivated")
    if source is not None and source not in _SOURCES:
        raise InvalidValueError("source is scim or manual")

"""Names of persisted states shared by storage and services (StrEnums: equal to the strings).

Pure, beside all: the store writes these values and the services decide them, so both
import them from here rather than the store spelling them as string literals.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """Where a run is: a plan is never stored; one `running` run per account is its lease."""

    PLANNED = "planned"
    HELD = "held"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SUPERSEDED = "superseded"


class ItemAction(StrEnum):
    """What a run did (or, dry, would do) to one member or team: a sync_item's `action`."""

    CREATE = "create"
    UPDATE = "update"
    DEACTIVATE = "deactivate"
    REACTIVATE = "reactivate"
    UNCHANGED = "unchanged"  # a member item only when it carries an error
    RENAME = "rename"
    REMOVE = "remove"


class ItemFilter(StrEnum):
    """What an admin filters a run's items by: the member actions as counted, and errors."""

    CREATED = "created"
    UPDATED = "updated"
    DEACTIVATED = "deactivated"
    REACTIVATED = "reactivated"
    ERROR = "error"


class MemberStatus(StrEnum):
    """Whether a member counts as in the product; a sync deactivates, never deletes."""

    ACTIVE = "active"
    DEACTIVATED = "deactivated"


class MemberSource(StrEnum):
    """Who set a member (or a Property value): the SCIM sync, or an admin by hand."""

    SCIM = "scim"
    MANUAL = "manual"


class ValueSource(StrEnum):
    """Who set a Property value: the attribute mapping, a group rule, or an admin by hand."""

    SCIM = "scim"
    GROUP = "group"
    MANUAL = "manual"

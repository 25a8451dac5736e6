"""The two SCIM resource types scimgate serves, as values: a kind and what names it on the wire.

RFC 7643 §6: "a resource type ... specifies the endpoint URI ... and the core schema". Code
outside the protocol layer compares against `ResourceKind` (a StrEnum, so equal to the
"User"/"Group" strings stored and passed around) instead of writing the names; storage keeps
its own per-type details (tables, columns) keyed by the kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from scimgate.scim.constants import GROUP_SCHEMA, USER_SCHEMA


class ResourceKind(StrEnum):
    """A resource type's name (RFC 7643 §6 "name"), as stored in membership and count rows."""

    USER = "User"
    GROUP = "Group"


@dataclass(frozen=True)
class ResourceType:
    """One resource type: its name, endpoint and core schema URN."""

    kind: ResourceKind
    endpoint: str
    schema: str
    description: str

    @property
    def collection(self) -> str:
        """The endpoint without its slash, as a resource's location has it ("Users")."""
        return self.endpoint.lstrip("/")


USER = ResourceType(ResourceKind.USER, "/Users", USER_SCHEMA, "User Account")
GROUP = ResourceType(ResourceKind.GROUP, "/Groups", GROUP_SCHEMA, "Group")
RESOURCE_TYPES = {USER.kind: USER, GROUP.kind: GROUP}


def resource_type(kind: str) -> ResourceType:
    """The descriptor of "User" or "Group" (a KeyError for anything else)."""
    return RESOURCE_TYPES[kind]  # type: ignore[index]

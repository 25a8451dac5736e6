"""The resource type descriptors say what discovery says, and the kind equals its name."""

from __future__ import annotations

import pytest

from scimgate.scim import discovery
from scimgate.scim.resource_types import GROUP, USER, ResourceKind, resource_type


def test_descriptors_match_the_resource_types_endpoint():
    served = {doc["name"]: doc for doc in discovery.resource_types("https://x")}
    for rt in (USER, GROUP):
        doc = served[rt.kind]
        assert (doc["endpoint"], doc["schema"], doc["description"]) == (
            rt.endpoint,
            rt.schema,
            rt.description,
        )
    assert (USER.collection, GROUP.collection) == ("Users", "Groups")


def test_the_kind_is_the_stored_string():
    assert ResourceKind.USER == "User" and ResourceKind.GROUP == "Group"
    assert f"{ResourceKind.GROUP}" == "Group"
    assert resource_type("User") is USER and resource_type(ResourceKind.GROUP) is GROUP
    with pytest.raises(KeyError):
        resource_type("Users")

"""Discovery documents: /ServiceProviderConfig, /ResourceTypes and /Schemas (RFC 7644 §4)."""

from __future__ import annotations

import copy
from typing import Any, Protocol

from scimgate.scim.constants import ENTERPRISE_USER_SCHEMA, RESOURCE_TYPE_SCHEMA, SPC_SCHEMA
from scimgate.scim.resource_types import GROUP, USER, ResourceType
from scimgate.scim.schema import schema_documents


class _Limits(Protocol):
    max_page_size: int
    max_body_bytes: int
    max_patch_operations: int
    bulk_max_operations: int
    bulk_max_payload_bytes: int


def service_provider_config(
    base_url: str, limits: _Limits, *, bulk_max_operations: int | None = None
) -> dict[str, Any]:
    """What this server supports: PATCH, Bulk, filter, sort, ETags; no password change.
    `bulk_max_operations`: the Bulk size the rate limit lets through, when it is lower."""
    return {
        "schemas": [SPC_SCHEMA],
        "documentationUri": "https://github.com/scimgate/scimgate/blob/main/docs/scim.md",
        "patch": {"supported": True},
        "bulk": {
            "supported": True,
            "maxOperations": bulk_max_operations or limits.bulk_max_operations,
            "maxPayloadSize": limits.bulk_max_payload_bytes,
        },
        "filter": {"supported": True, "maxResults": limits.max_page_size},
        "changePassword": {"supported": False},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "The Secret Token from the account's User Provisioning settings, sent as "
                "'Authorization: Bearer <token>'",
                "primary": True,
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{base_url}/ServiceProviderConfig",
        },
    }


def resource_types(base_url: str, user_extensions: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The User (with the enterprise extension and `user_extensions`) and Group resource types."""
    extensions = [
        {"schema": urn, "required": False} for urn in (ENTERPRISE_USER_SCHEMA, *user_extensions)
    ]
    return [_resource_type(USER, extensions, base_url), _resource_type(GROUP, [], base_url)]


def _resource_type(
    described: ResourceType, extensions: list[dict[str, Any]], base_url: str
) -> dict[str, Any]:
    """One ResourceType resource (RFC 7643 §6), from the resource type's descriptor."""
    name = described.kind.value
    return {
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": name,
        "name": name,
        "endpoint": described.endpoint,
        "description": described.description,
        "schema": described.schema,
        "schemaExtensions": extensions,
        "meta": {"resourceType": "ResourceType", "location": f"{base_url}/ResourceTypes/{name}"},
    }


def schemas_list(base_url: str, extra: tuple[dict[str, Any], ...] = ()) -> list[dict[str, Any]]:
    """The three schemas, with absolute meta.location, then `extra` (the account extension)."""
    out = []
    for urn, doc in schema_documents().items():
        item = copy.deepcopy(doc)
        item["meta"] = {"resourceType": "Schema", "location": f"{base_url}/Schemas/{urn}"}
        out.append(item)
    return out + [copy.deepcopy(doc) for doc in extra]

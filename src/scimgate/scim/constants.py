"""URNs, media types and limits of the SCIM protocol as scimgate speaks it."""

from __future__ import annotations

MEDIA_TYPE = "application/scim+json"
ACCEPTED_REQUEST_TYPES = ("application/scim+json", "application/json")

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"

LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"

URN_PREFIX = "urn:"

MAX_FILTER_LENGTH = 4096
MAX_STRING_LENGTH = 64 * 1024
MAX_JSON_DEPTH = 16
MAX_ATTRIBUTES_PARAM = 100

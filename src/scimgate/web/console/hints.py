"""Plain-language hints for the errors identity providers run into most."""

from __future__ import annotations

from typing import Any

from scimgate.scim.account_extension import NOT_A_PROPERTY

_TOKEN_REFUSED = (
    "The Secret Token was refused: it is wrong, revoked, or user provisioning is "
    "deactivated. Generate a new token on the User Provisioning page, paste it into "
    "Secret Token in Entra ID (or Okta's API token), and press Test Connection."
)
_ALREADY_EXISTS = (
    "The identity provider created a resource that already exists here (same userName, "
    "externalId or group name). This usually means its matching is not on "
    "objectId → externalId: set that mapping to Match objects using this attribute = "
    "Yes with precedence 1, and userPrincipalName → userName to No, then restart "
    "provisioning."
)
_NO_LONGER_HERE = (
    "The identity provider refers to a user or group that is no longer here (it was "
    "deleted, or provisioning was pointed at another account). Entra ID creates it "
    "again on its next cycle; Restart provisioning clears its cache at once."
)
_BAD_VALUE = (
    "A value did not fit its attribute (for example text where a Boolean is expected, "
    "or a malformed email). Check the attribute mapping in the identity provider: the "
    "detail above names the attribute."
)
_NOT_A_PROPERTY = (
    "The request was applied, but the identity provider sent an attribute of scimgate's "
    "extension that is not a Property of this account (the Property was deleted, or its "
    "attribute renamed); that value was left out. In the identity provider's attribute "
    "mapping, point the target attribute at one listed on the Properties page, or remove it."
)

# The SCIM error type says what went wrong more precisely than the status does.
_BY_SCIM_TYPE = {
    "invalidFilter": (
        "The identity provider sent a filter scimgate could not read. Check for a custom "
        "matching attribute in the provider's mapping; Entra ID matches on "
        "externalId or userName."
    ),
    "invalidValue": _BAD_VALUE,
    "invalidSyntax": _BAD_VALUE,
    "invalidPath": (
        "A PATCH operation's path could not be read or names no attribute of a SCIM "
        "User or Group (a misspelled attribute, a custom attribute without its schema "
        "URN, or a filter in brackets that does not parse). The detail above quotes the "
        "path: correct the target attribute in the identity provider's attribute mapping."
    ),
    "noTarget": (
        "A PATCH operation had nothing to act on: a remove without a path, or a path "
        "whose filter no value meets (for example on emails or members). The detail "
        "above says which; check that attribute's mapping in the identity provider."
    ),
    "mutability": (
        "A request tried to change an attribute that cannot be changed (such as id or "
        "meta, which scimgate sets). Remove that attribute from the identity provider's "
        "mapping."
    ),
}

_BY_STATUS = {
    412: "The provider held an outdated version of the resource; it retries on its own.",
    413: "The request body was too large. Ask the operator about SCIMGATE_MAX_BODY_BYTES.",
    429: "scimgate was busy or its database did not answer; the provider retries later.",
    503: "scimgate was busy or its database did not answer; the provider retries later.",
}


def hint_for(entry: dict[str, Any]) -> str | None:
    """What an admin should do about one logged request, or None when nothing is wrong."""
    status = entry.get("status") or 0
    scim_type = entry.get("scim_type") or ""
    if status == 401:
        return _TOKEN_REFUSED
    if status == 409 and scim_type == "uniqueness":
        return _ALREADY_EXISTS
    if entry.get("expected"):
        return None  # a GET after the resource's DELETE: the provider checking it is gone
    if status == 404 and _names_one_resource(entry):
        return _NO_LONGER_HERE
    if status < 400 and NOT_A_PROPERTY in str(entry.get("ignored") or ""):
        return _NOT_A_PROPERTY
    return _BY_SCIM_TYPE.get(scim_type) or _by_status(status)


def _names_one_resource(entry: dict[str, Any]) -> bool:
    """Whether the request addressed one user or group (not a list or a search)."""
    method = entry.get("method") or ""
    path = (entry.get("path") or "").lower()
    return method in ("PATCH", "PUT", "DELETE", "GET") and "/" in path.strip("/")


def _by_status(status: int) -> str | None:
    """The hint for a status no SCIM error type explained."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return "scimgate failed on its side. The operator finds the details in the server log."
    if status >= 400:
        return "The request was refused; the detail above says why."
    return None

"""Plain-language hints for the errors identity providers run into most."""

from __future__ import annotations

from typing import Any


def hint_for(entry: dict[str, Any]) -> str | None:
    """What an admin should do about one logged request, or None when nothing is wrong."""
    status = entry.get("status") or 0
    scim_type = entry.get("scim_type") or ""
    method = entry.get("method") or ""
    path = (entry.get("path") or "").lower()
    if status == 401:
        return (
            "The Secret Token was refused: it is wrong, revoked, or user provisioning is "
            "deactivated. Generate a new token on the User Provisioning page, paste it into "
            "Secret Token in Entra ID (or Okta's API token), and press Test Connection."
        )
    if status == 409 and scim_type == "uniqueness":
        return (
            "The identity provider created a resource that already exists here (same userName, "
            "externalId or group name). This usually means its matching is not on "
            "objectId → externalId: set that mapping to Match objects using this attribute = "
            "Yes with precedence 1, and userPrincipalName → userName to No, then restart "
            "provisioning."
        )
    if entry.get("expected"):
        return None  # a GET after the resource's DELETE: the provider checking it is gone
    if status == 404 and method in ("PATCH", "PUT", "DELETE", "GET") and "/" in path.strip("/"):
        return (
            "The identity provider refers to a user or group that is no longer here (it was "
            "deleted, or provisioning was pointed at another account). Entra ID creates it "
            "again on its next cycle; Restart provisioning clears its cache at once."
        )
    if scim_type == "invalidFilter":
        return (
            "The identity provider sent a filter scimgate could not read. Check for a custom "
            "matching attribute in the provider's mapping; Entra ID matches on "
            "externalId or userName."
        )
    if scim_type in ("invalidValue", "invalidSyntax"):
        return (
            "A value did not fit its attribute (for example text where a Boolean is expected, "
            "or a malformed email). Check the attribute mapping in the identity provider: the "
            "detail above names the attribute."
        )
    if scim_type == "invalidPath":
        return (
            "A PATCH operation's path could not be read or names no attribute of a SCIM "
            "User or Group (a misspelled attribute, a custom attribute without its schema "
            "URN, or a filter in brackets that does not parse). The detail above quotes the "
            "path: correct the target attribute in the identity provider's attribute mapping."
        )
    if scim_type == "noTarget":
        return (
            "A PATCH operation had nothing to act on: a remove without a path, or a path "
            "whose filter no value meets (for example on emails or members). The detail "
            "above says which; check that attribute's mapping in the identity provider."
        )
    if scim_type == "mutability":
        return (
            "A request tried to change an attribute that cannot be changed (such as id or "
            "meta, which scimgate sets). Remove that attribute from the identity provider's "
            "mapping."
        )
    if status == 412:
        return "The provider held an outdated version of the resource; it retries on its own."
    if status == 413:
        return "The request body was too large. Ask the operator about SCIMGATE_MAX_BODY_BYTES."
    if status in (429, 503):
        return "scimgate was busy or its database did not answer; the provider retries later."
    if status >= 500:
        return "scimgate failed on its side. The operator finds the details in the server log."
    if status >= 400:
        return "The request was refused; the detail above says why."
    return None

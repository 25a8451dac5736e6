"""SCIM protocol errors, one class per error type of RFC 7644 §3.12 (Table 9).

"The 'status' attribute ... the HTTP status code expressed as a JSON string" (§3.12),
so `to_body()` always writes it as a string.
"""

from __future__ import annotations

from typing import Any

from scimgate.scim.constants import ERROR


class ScimError(Exception):
    """An error that goes back to the client as an RFC 7644 Error body."""

    status: int = 400
    scim_type: str | None = None
    default_detail: str = "Bad request"

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None):
        # A detail may quote the request; a lone surrogate in it would break the JSON encoder.
        detail = detail or self.default_detail
        self.detail = detail.encode("utf-8", "backslashreplace").decode("utf-8")
        self.headers = headers or {}
        super().__init__(self.detail)

    def to_body(self) -> dict[str, Any]:
        """The wire shape: schemas, status (a string), scimType when defined, detail."""
        body: dict[str, Any] = {"schemas": [ERROR], "status": str(self.status)}
        if self.scim_type:
            body["scimType"] = self.scim_type
        body["detail"] = self.detail
        return body


class InvalidFilterError(ScimError):
    """ "The specified filter syntax was invalid ... or the specified attribute and filter comparison combination is not supported." """

    scim_type = "invalidFilter"
    default_detail = "The filter is not valid"


class TooManyError(ScimError):
    """ "The specified filter yields many more results than the server is willing to calculate or process." """

    scim_type = "tooMany"


class UniquenessError(ScimError):
    """ "One or more of the attribute values are already in use or are reserved." """

    status = 409
    scim_type = "uniqueness"
    default_detail = "A resource with this value already exists"


class MutabilityError(ScimError):
    """ "The attempted modification is not compatible with the target attribute's mutability." """

    scim_type = "mutability"


class InvalidSyntaxError(ScimError):
    """ "The request body message structure was invalid or did not conform to the request schema." """

    scim_type = "invalidSyntax"


class InvalidPathError(ScimError):
    """ "The "path" attribute was invalid or malformed." """

    scim_type = "invalidPath"


class NoTargetError(ScimError):
    """ "The specified "path" did not yield an attribute or attribute value that could be operated on." """

    scim_type = "noTarget"


class InvalidValueError(ScimError):
    """ "A required value was missing, or the value specified was not compatible with the operation or attribute type." """

    scim_type = "invalidValue"


class InvalidVersionError(ScimError):
    """ "The specified SCIM protocol version is not supported." """

    scim_type = "invalidVersion"


class SensitiveError(ScimError):
    """ "The specified request cannot be completed, due to the passing of sensitive information in a request URI." """

    status = 403
    scim_type = "sensitive"


class UnauthorizedError(ScimError):
    """Authorization failure (RFC 7644 §3.12: 401)."""

    status = 401
    default_detail = "Authorization failure: a valid bearer token is required"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="scimgate"'})


class ForbiddenError(ScimError):
    """The token is valid but may not do this (403)."""

    status = 403
    default_detail = "Operation is not permitted"


class NotFoundError(ScimError):
    """Specified resource (e.g., User) or endpoint does not exist (404)."""

    status = 404
    default_detail = "Resource not found"


class MethodNotAllowedError(ScimError):
    """The endpoint does not support this HTTP method (405)."""

    status = 405
    default_detail = "Method not allowed"


class ConflictError(ScimError):
    """A conflict that is not a uniqueness violation (409)."""

    status = 409


class PreconditionFailedError(ScimError):
    """ "Failed to update. Resource has changed on the server." (412)."""

    status = 412
    default_detail = "Failed to update: the resource has changed on the server"


class PayloadTooLargeError(ScimError):
    """The request body exceeds the configured limit (413)."""

    status = 413
    default_detail = "The request body is too large"


class UnsupportedMediaTypeError(ScimError):
    """The request body is not JSON (415)."""

    status = 415
    default_detail = "Content-Type must be application/scim+json or application/json"


class ServiceUnavailableError(ScimError):
    """The database is unreachable or busy (503); the client retries."""

    status = 503
    default_detail = "The service is busy; retry later"


class NotImplementedScimError(ScimError):
    """Service provider does not support the request operation (501)."""

    status = 501
    default_detail = "Not implemented"


class InternalError(ScimError):
    """An unexpected failure; the detail never carries internals."""

    status = 500
    default_detail = "Internal server error; the failure was logged"


class TooManyRequestsError(ScimError):
    """A rate or concurrency limit was hit (429, RFC 6585); Retry-After says when to come back."""

    status = 429
    default_detail = "Too many requests; retry after the number of seconds in Retry-After"

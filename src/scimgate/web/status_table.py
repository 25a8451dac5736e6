"""The one table from error class to HTTP answer, shared by /scim/v2, /api/v1 and the console.

Services raise domain errors (scimgate.errors: ServiceError for what the caller asked,
StorageError for a database that failed, raised at the storage edge); each surface
writes the answer in its own format (a SCIM Error, an RFC 9457 problem, an HTML page)
but takes the status, and for SCIM the scimType, from here. A ScimError is already a
protocol answer and carries its own status; only /scim/v2 raises those.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus

from scimgate import errors as domain
from scimgate.scim import errors as scim_errors


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """How one class of error is answered: the status, and the SCIM error that carries it;
    an error a client must tell apart from others of its status has a problem type and title."""

    status: int
    scim: type[scim_errors.ScimError]
    problem_type: str = "about:blank"
    problem_title: str | None = None

    @property
    def title(self) -> str:
        """A problem document's title: its own, or the reason phrase."""
        return self.problem_title or HTTPStatus(self.status).phrase


class _GoneError(scim_errors.ScimError):
    """410 for the table's sake: /scim/v2 raises nothing that maps here."""

    status = 410


# Looked up along the error's class hierarchy, most specific first (as Starlette picks
# exception handlers): a class not listed is answered as its nearest listed base.
TABLE: dict[type[Exception], HttpAnswer] = {
    domain.NotFoundError: HttpAnswer(404, scim_errors.NotFoundError),
    domain.ConflictError: HttpAnswer(409, scim_errors.ConflictError),
    domain.InvalidValueError: HttpAnswer(400, scim_errors.InvalidValueError),
    domain.PreconditionFailedError: HttpAnswer(412, scim_errors.PreconditionFailedError),
    domain.ForbiddenError: HttpAnswer(403, scim_errors.ForbiddenError),
    domain.CursorTooOldError: HttpAnswer(
        410, _GoneError, "/docs/api#cursor-too-old", "Cursor too old: events were pruned"
    ),
    domain.BusyError: HttpAnswer(503, scim_errors.ServiceUnavailableError),
    domain.ServiceError: HttpAnswer(400, scim_errors.InvalidValueError),
    domain.StorageTimeoutError: HttpAnswer(503, scim_errors.ServiceUnavailableError),
    domain.StorageUnavailableError: HttpAnswer(503, scim_errors.ServiceUnavailableError),
    domain.StorageError: HttpAnswer(503, scim_errors.ServiceUnavailableError),
}


def answer_for(error: domain.ServiceError | domain.StorageError) -> HttpAnswer:
    """The table's row for this error's class (or its nearest listed base)."""
    for cls in type(error).__mro__:
        answer = TABLE.get(cls)
        if answer is not None:
            return answer
    raise LookupError(f"{type(error).__name__} is not in the error table")


def scim_error(error: domain.ServiceError) -> scim_errors.ScimError:
    """A domain error as the SCIM error the table names; a conflict on a named attribute
    is RFC 7644's uniqueness (409 with scimType)."""
    if isinstance(error, domain.ConflictError) and error.attribute:
        return scim_errors.UniquenessError(error.detail)
    return answer_for(error).scim(error.detail)

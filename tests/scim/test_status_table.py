"""web/status_table.py: one answer per error class, whichever surface tells it."""

from __future__ import annotations

from scimgate import errors as domain
from scimgate.scim import errors as scim_errors
from scimgate.sync.engine import SyncBusyError
from scimgate.web.status_table import answer_for, scim_error


def test_each_domain_error_has_one_status():
    statuses = {
        domain.NotFoundError("x"): 404,
        domain.ConflictError("x"): 409,
        SyncBusyError("x"): 409,
        domain.InvalidValueError("x"): 400,
        domain.UnstorableValueError(): 400,
        domain.PreconditionFailedError("x"): 412,
        domain.ForbiddenError("x"): 403,
        domain.ServiceError("x"): 400,
        domain.StorageTimeoutError("x"): 503,
        domain.StorageUnavailableError("x"): 503,
    }
    assert {type(e).__name__: answer_for(e).status for e in statuses} == {
        type(e).__name__: s for e, s in statuses.items()
    }
    assert answer_for(domain.PreconditionFailedError("x")).title == "Precondition Failed"


def test_scim_errors_carry_the_same_status_and_a_scim_type():
    for error in (domain.NotFoundError("x"), domain.InvalidValueError("x")):
        assert scim_error(error).status == answer_for(error).status
    assert scim_error(domain.InvalidValueError("x")).scim_type == "invalidValue"
    unique = scim_error(domain.ConflictError("taken", attribute="userName"))
    assert isinstance(unique, scim_errors.UniquenessError) and unique.scim_type == "uniqueness"
    assert scim_error(domain.ConflictError("busy")).scim_type is None

"""scim/search.py: a list or search request's parameters, parsed without a server."""

from __future__ import annotations

import pytest

from scimgate.scim import errors as scim_errors
from scimgate.scim.search import (
    MAX_START_INDEX,
    body_params,
    int_param,
    query_params,
    search_request,
)

LIMITS = {"default_count": 100, "max_count": 200, "filter_budget": 1000}


def from_query(**values: str) -> dict:
    lowered = {k.lower(): v for k, v in values.items()}
    return query_params(lambda name: lowered.get(name.lower()), b"")


def test_paging_is_bounded_and_defaults_apply():
    request = search_request(from_query(startIndex="0", count="500"), **LIMITS)
    assert (request.start, request.count) == (1, 200)
    request = search_request(from_query(), **LIMITS)
    assert (request.start, request.count, request.filter) == (1, 100, None)
    huge = search_request(body_params({"startIndex": 2**70}), **LIMITS)
    assert huge.start == MAX_START_INDEX


def test_filter_sort_and_projection():
    request = search_request(
        from_query(filter='userName eq "a"', sortOrder="Descending", attributes="userName"),
        **LIMITS,
    )
    assert request.filter is not None and request.descending
    assert request.attributes == ["userName"]


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ({"count": "ten"}, scim_errors.InvalidValueError),
        ({"sortOrder": "sideways"}, scim_errors.InvalidValueError),
        ({"filter": "userName zz"}, scim_errors.InvalidFilterError),
    ],
)
def test_bad_parameters_are_protocol_errors(raw, error):
    with pytest.raises(error):
        search_request(from_query(**raw), **LIMITS)


def test_search_bodies():
    assert body_params({"COUNT": 3, "attributes": "a,b"})["attributes"] == ["a", "b"]
    with pytest.raises(scim_errors.InvalidSyntaxError):
        body_params([])
    with pytest.raises(scim_errors.InvalidSyntaxError):
        body_params({"schemas": ["urn:other"]})
    with pytest.raises(scim_errors.InvalidValueError):
        body_params({"attributes": [1]})
    with pytest.raises(scim_errors.InvalidFilterError):
        search_request(body_params({"filter": 5}), **LIMITS)


def test_integers():
    assert int_param("", "count") is None and int_param(5.0, "count") == 5
    with pytest.raises(scim_errors.InvalidValueError):
        int_param(True, "count")
    with pytest.raises(scim_errors.InvalidValueError):
        int_param(5.5, "count")


def test_undecodable_query_is_refused():
    with pytest.raises(scim_errors.InvalidFilterError):
        query_params(lambda name: None, b"filter=%ff")

"""A list or search request's parameters (RFC 7644 §3.4.2, §3.4.3), parsed and checked.

Pure: no I/O and no framework. GET /Users?filter=... and POST /.search bodies both end
in one `SearchRequest`; the caller runs it against the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scimgate.scim import errors as scim_errors
from scimgate.scim.constants import SEARCH_REQUEST
from scimgate.scim.filter import FilterNode, parse_filter
from scimgate.scim.filter_cost import check_filter_budget
from scimgate.scim.render import parse_attribute_list
from scimgate.scim.text import undecodable_param

# startIndex beyond this addresses no row: SQLite and PostgreSQL take OFFSET as a signed
# 64-bit integer (a larger one overflows) and neither can hold 2^63 - 1 rows. A larger
# startIndex is clamped here, so the answer is what RFC 7644 §3.4.2.4 asks for past the
# last result (an empty page with the exact totalResults), and the startIndex echoed in
# the ListResponse is this clamped value: one that fits the 64-bit integers JSON encoders
# (orjson included) and most clients can read, never the unbounded number sent.
MAX_START_INDEX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """What to list: the filter, the order, the page (1-based start) and the projection."""

    filter: FilterNode | None
    start: int
    count: int
    sort_by: Any
    descending: bool
    attributes: list[str] | None
    excluded_attributes: list[str] | None


def search_request(
    params: dict[str, Any], *, default_count: int, max_count: int, filter_budget: int
) -> SearchRequest:
    """Raw parameters (from `query_params` or `body_params`) checked and bounded."""
    start = int_param(params.get("startIndex"), "startIndex")
    count = int_param(params.get("count"), "count")
    start = 1 if start is None or start < 1 else min(start, MAX_START_INDEX)
    count = default_count if count is None else max(0, min(count, max_count))
    raw_filter = params.get("filter")
    if raw_filter is not None and not isinstance(raw_filter, str):
        raise scim_errors.InvalidFilterError("filter must be a string")
    ast = parse_filter(raw_filter) if raw_filter is not None and raw_filter.strip() else None
    if ast is not None:
        check_filter_budget(ast, filter_budget)
    order = str(params.get("sortOrder") or "ascending").lower()
    if order not in ("ascending", "descending"):
        raise scim_errors.InvalidValueError("sortOrder is 'ascending' or 'descending'")
    return SearchRequest(
        filter=ast,
        start=start,
        count=count,
        sort_by=params.get("sortBy"),
        descending=order == "descending",
        attributes=params["attributes"],
        excluded_attributes=params["excludedAttributes"],
    )


def int_param(raw: Any, name: str) -> int | None:
    """A paging integer from the query string or a SearchRequest; anything else is invalidValue."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raise scim_errors.InvalidValueError(f"{name} must be an integer")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        # orjson reads an integer beyond 64 bits (and 5.0) as a float: whole ones are integers.
        if raw.is_integer():
            return int(raw)
        raise scim_errors.InvalidValueError(f"{name} must be an integer, got {raw!r}")
    try:
        return int(str(raw).strip())
    except ValueError:
        raise scim_errors.InvalidValueError(f"{name} must be an integer, got {raw!r}") from None


def query_params(param: Callable[[str], str | None], query_string: bytes) -> dict[str, Any]:
    """A list request's parameters (`param` reads one by case-insensitive name); one that is
    not UTF-8 is refused rather than searched for."""
    bad = undecodable_param(query_string)
    if bad is not None:
        error = (
            scim_errors.InvalidFilterError
            if bad.lower() == "filter"
            else scim_errors.InvalidValueError
        )
        raise error(f"The query parameter {bad!r} is not valid UTF-8")
    return {
        "filter": param("filter"),
        "startIndex": param("startIndex"),
        "count": param("count"),
        "sortBy": param("sortBy"),
        "sortOrder": param("sortOrder"),
        "attributes": parse_attribute_list(param("attributes")),
        "excludedAttributes": parse_attribute_list(param("excludedAttributes")),
    }


def body_params(body: Any) -> dict[str, Any]:
    """A SearchRequest body's parameters (names in any case), as `query_params` gives them."""
    if not isinstance(body, dict):
        raise scim_errors.InvalidSyntaxError("A SearchRequest body must be a JSON object")
    fields = {str(k).lower(): v for k, v in body.items()}
    schemas = fields.get("schemas")
    if schemas is not None and (
        not isinstance(schemas, list)
        or SEARCH_REQUEST.lower() not in [str(s).lower() for s in schemas]
    ):
        raise scim_errors.InvalidSyntaxError(
            f"A search body must declare the schema {SEARCH_REQUEST}"
        )
    return {
        "filter": fields.get("filter"),
        "startIndex": fields.get("startindex"),
        "count": fields.get("count"),
        "sortBy": fields.get("sortby"),
        "sortOrder": fields.get("sortorder"),
        "attributes": _names(fields.get("attributes"), "attributes"),
        "excludedAttributes": _names(fields.get("excludedattributes"), "excludedAttributes"),
    }


def _names(value: Any, label: str) -> list[str] | None:
    """attributes/excludedAttributes of a body: a list of names, or one comma-separated string."""
    if value is None:
        return None
    if isinstance(value, str):
        return parse_attribute_list(value)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise scim_errors.InvalidValueError(f"{label} must be a list of attribute names")
    return value

"""Requests that once answered 500: each must now be a SCIM answer (runs on SQLite and PostgreSQL)."""

import json

import pytest

from scimgate.scim.errors import InvalidFilterError, InvalidPathError, InvalidValueError
from scimgate.scim.filter import parse_filter, parse_path
from scimgate.scim.patch import apply_patch
from scimgate.scim.resource import normalise
from scimgate.scim.schema import group_schema, user_schema
from tests.helpers.scim import assert_error, user_body

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
MAX_START = 2**63 - 1


def _patch(*operations):
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


# -- 1. core-URN-qualified attribute names in a body -------------------------------------------


def test_post_takes_a_core_urn_qualified_attribute_as_the_attribute(scim):
    r = scim.post("/Users", json={"schemas": [USER], "userName": "a", f"{USER}:title": "x"})
    assert r.status_code == 201, r.text
    assert r.json()["title"] == "x"
    assert f"{USER}:title" not in r.json()


def test_put_takes_a_core_urn_qualified_attribute_as_the_attribute(scim):
    uid = scim.post("/Users", json=user_body()).json()["id"]
    body = user_body(**{f"{USER}:title": "Boss", f"{USER}:displayName": "B. J."})
    r = scim.put(f"/Users/{uid}", json=body)
    assert r.status_code == 200, r.text
    assert (r.json()["title"], r.json()["displayName"]) == ("Boss", "B. J.")
    assert scim.get(f"/Users/{uid}").json()["title"] == "Boss"


def test_qualified_group_members_become_member_rows(scim):
    uid = scim.post("/Users", json=user_body()).json()["id"]
    body = {"schemas": [GROUP], f"{GROUP}:displayName": "G", f"{GROUP}:members": [{"value": uid}]}
    r = scim.post("/Groups", json=body)
    assert r.status_code == 201, r.text
    assert [m["value"] for m in r.json()["members"]] == [uid]


def test_core_schema_object_never_stores_a_password_or_server_attributes():
    body = {USER: {"userName": "a", "password": "secret", "id": "mine", "meta": {"x": 1}}}
    doc = normalise(body, user_schema()).doc
    assert doc == {"schemas": [USER], "userName": "a"}


def test_qualified_members_in_a_patch_are_member_operations():
    ops = _patch({"op": "add", "path": f"{GROUP}:members", "value": [{"value": "u1"}]})
    outcome = apply_patch({"schemas": [GROUP], "displayName": "G"}, ops, group_schema())
    assert [m.members[0]["value"] for m in outcome.member_ops] == ["u1"]
    assert "members" not in outcome.doc


# -- 2. startIndex and count beyond 64 bits ------------------------------------------------------


@pytest.fixture
def two_users(scim):
    for name in ("a@example.com", "b@example.com"):
        assert scim.post("/Users", json=user_body(name)).status_code == 201
    return scim


_STARTS = [2**63 - 1, 2**63, 2**64, 10**30]
_COUNTS = [None, 0, 5, 10**30, -(10**30)]


@pytest.mark.parametrize(
    "extra, total",
    [
        ({}, 2),
        ({"filter": 'userName sw "a"'}, 1),
        ({"sortBy": "userName"}, 2),
        ({"filter": "title pr"}, 0),
    ],
)
def test_start_index_past_any_row_is_an_empty_page(two_users, extra, total):
    for start in _STARTS:
        for count in _COUNTS:
            params = {"startIndex": str(start), **extra}
            if count is not None:
                params["count"] = str(count)
            r = two_users.get("/Users", params=params)
            assert r.status_code == 200, (params, r.text)
            body = r.json()
            assert body["Resources"] == [] and body["itemsPerPage"] == 0
            assert body["startIndex"] == MAX_START
            assert body["totalResults"] == total


@pytest.mark.parametrize("path", ["/.search", "/Users/.search"])
def test_search_body_start_index_past_any_row_is_an_empty_page(two_users, path):
    for start in [*_STARTS[1:], 5e20]:
        for count in _COUNTS:
            body = json.dumps({"startIndex": start, "count": count}).encode()
            r = two_users.post(path, content=body)
            assert r.status_code == 200, (start, count, r.text)
            assert r.json()["Resources"] == [] and r.json()["startIndex"] == MAX_START
            assert r.json()["totalResults"] == 2


@pytest.mark.parametrize("count", ["1" + "0" * 40, "-" + "9" * 40])
def test_huge_count_is_clamped(two_users, count):
    r = two_users.get("/Users", params={"count": count})
    assert r.status_code == 200, r.text
    assert r.json()["totalResults"] == 2
    assert len(r.json()["Resources"]) == (0 if count.startswith("-") else 2)


@pytest.mark.parametrize("value", ["1.5", "1e999", "x", "9" * 5000])
def test_start_index_that_is_no_integer_is_invalid_value(scim, value):
    assert_error(scim.get("/Users", params={"startIndex": value}), 400, "invalidValue")


# -- 3. lone surrogates in filters, paths and values ---------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        r'userName eq "\ud800"',
        r'title eq "\ud800"',
        r'emails[type eq "\udfff"]',
        r'emails.value co "a\ud800"',
        r'name.givenName sw "\ud800"',
        r'urn:ietf:params:scim:schemas:extension:Acme:2.0:User:x eq "\ud800"',
    ],
)
def test_surrogate_escape_in_a_filter_is_invalid_filter(scim, expression):
    assert_error(scim.get("/Users", params={"filter": expression}), 400, "invalidFilter")
    r = scim.post("/.search", content=json.dumps({"filter": expression}).encode())
    assert_error(r, 400, "invalidFilter")
    r = scim.get("/Users", params={"filter": expression, "sortBy": "title"})
    assert_error(r, 400, "invalidFilter")


@pytest.mark.parametrize("query", ["%ED%A0%80", "%ED%BF%BF", "%FF", "%C3"])
def test_filter_that_is_not_utf8_in_the_query_string_is_invalid_filter(scim, query):
    r = scim.get(f"/Users?filter=userName%20eq%20%22{query}%22")
    assert_error(r, 400, "invalidFilter")


def test_other_list_parameter_that_is_not_utf8_is_invalid_value(scim):
    assert_error(scim.get("/Users?sortBy=%ED%A0%80"), 400, "invalidValue")


def test_surrogate_in_a_search_body_is_a_scim_error(scim):
    r = scim.post("/Users/.search", content=b'{"filter": "userName eq \\"\\ud800\\""}')
    assert_error(r, 400)


@pytest.mark.parametrize(
    "path",
    [
        r'emails[type eq "\ud800"].value',
        r'emails[value eq "\ud800"]',
        r'x509Certificates[value eq "\ud800"].value',
    ],
)
@pytest.mark.parametrize("op", ["add", "replace", "remove"])
def test_surrogate_escape_in_a_patch_path_is_invalid_path(scim, path, op):
    uid = scim.post("/Users", json=user_body()).json()["id"]
    r = scim.patch(f"/Users/{uid}", json=_patch({"op": op, "path": path, "value": "x"}))
    assert_error(r, 400, "invalidPath")


def test_surrogate_strings_never_reach_the_store():
    """A lenient JSON parser would hand these over as Python strings: each is refused."""
    with pytest.raises(InvalidFilterError):
        parse_filter('userName eq "\ud800"')
    with pytest.raises(InvalidPathError):
        parse_path('emails[type eq "\ud800"].value')
    for body in (
        {"userName": "\ud800"},
        {"userName": "a", "title": "x\udc00"},
        {"userName": "a", "urn:ietf:params:scim:schemas:extension:Acme:2.0:User": {"k": "\ud800"}},
        {"userName": "a", "urn:ietf:params:scim:schemas:extension:Acme:2.0:User": {"\ud800": 1}},
    ):
        with pytest.raises(InvalidValueError):
            normalise(body, user_schema())
    with pytest.raises(InvalidValueError):
        normalise({"displayName": "g", "members": [{"value": "\ud800"}]}, group_schema())


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_id_with_a_nul_names_nothing(scim, method):
    bodies = {"PUT": user_body(), "PATCH": _patch({"op": "add", "path": "title", "value": "x"})}
    kwargs = {"json": bodies[method]} if method in bodies else {}
    assert_error(scim.request(method, "/Users/a%00b", **kwargs), 404)


def test_error_detail_with_a_surrogate_still_encodes():
    body = InvalidFilterError("bad \ud800 filter").to_body()
    assert json.dumps(body, ensure_ascii=False).encode("utf-8")


# -- 4. PATCH operations that leave the wrong type for a later operation -------------------------

_CONFUSIONS = {
    "string then value path": [
        {"op": "replace", "path": "emails", "value": "str"},
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "x"},
    ],
    "strings then sub-attribute": [
        {"op": "replace", "path": "emails", "value": ["x@y"]},
        {"op": "replace", "path": 'emails[value eq "x@y"].value', "value": "x"},
    ],
    "strings then remove sub-attribute": [
        {"op": "replace", "path": "emails", "value": ["x@y"]},
        {"op": "remove", "path": 'emails[value eq "x@y"].value'},
    ],
    "strings then whole element": [
        {"op": "replace", "path": "emails", "value": ["x@y"]},
        {"op": "replace", "path": 'emails[value eq "x@y"]', "value": {"value": "z"}},
    ],
    "lists then present": [
        {"op": "replace", "path": "emails", "value": [["x"]]},
        {"op": "replace", "path": "emails[value pr].value", "value": "x"},
    ],
    "roles strings then remove": [
        {"op": "replace", "path": "roles", "value": ["x"]},
        {"op": "remove", "path": 'roles[value eq "x"].display'},
    ],
    "nulls and numbers": [
        {"op": "replace", "path": "emails", "value": [None, 1]},
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "x"},
    ],
}


@pytest.mark.parametrize("operations", _CONFUSIONS.values(), ids=_CONFUSIONS.keys())
def test_patch_that_leaves_a_wrong_type_is_invalid_value(scim, operations):
    uid = scim.post("/Users", json=user_body()).json()["id"]
    r = scim.patch(f"/Users/{uid}", json=_patch(*operations))
    assert_error(r, 400, "invalidValue")
    assert scim.get(f"/Users/{uid}").json()["emails"] == user_body()["emails"]


def test_patch_object_for_a_multi_valued_attribute_is_one_element(scim):
    """A single object stands for a one-element list, as in POST: the value path then finds it."""
    uid = scim.post("/Users", json=user_body()).json()["id"]
    r = scim.patch(
        f"/Users/{uid}",
        json=_patch(
            {"op": "replace", "path": "emails", "value": {"type": "work"}},
            {"op": "replace", "path": 'emails[type eq "work"].value', "value": "x@example.com"},
        ),
    )
    assert r.status_code == 200, r.text
    assert r.json()["emails"] == [{"type": "work", "value": "x@example.com"}]


@pytest.mark.parametrize(
    "operation, status, scim_type",
    [
        ({"op": "remove", "path": f'schemas[value eq "{USER}"]'}, 200, None),
        ({"op": "replace", "path": 'schemas[value eq "nope"]', "value": "x"}, 400, "noTarget"),
        ({"op": "replace", "path": f'schemas[value eq "{USER}"]', "value": {}}, 400, None),
        ({"op": "replace", "path": f'schemas[value eq "{USER}"].x', "value": 1}, 400, None),
    ],
)
def test_value_path_on_a_simple_multi_valued_attribute(scim, operation, status, scim_type):
    uid = scim.post("/Users", json=user_body()).json()["id"]
    r = scim.patch(f"/Users/{uid}", json=_patch(operation))
    if status == 200:
        assert r.status_code == 200, r.text
        assert USER in r.json()["schemas"]  # schemas is always rebuilt from the document
    else:
        assert_error(r, status, scim_type)

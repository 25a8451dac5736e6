"""Random filters, PATCH bodies and POST bodies never produce a 5xx or a traceback."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.scim import user_body

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
_attr = st.sampled_from(
    [
        "userName",
        "displayName",
        "title",
        "active",
        "emails",
        "emails.value",
        "emails.type",
        "name.givenName",
        "meta.created",
        "meta.lastModified",
        "externalId",
        "id",
        "groups",
        "manager",
        "phoneNumbers.value",
        "x509Certificates.value",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        "urn:ietf:params:scim:schemas:extension:Acme:2.0:User:x",
        "bogus",
        "members",
    ]
)
_op = st.sampled_from(["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"])
_value = st.one_of(
    st.text(max_size=8).map(json.dumps),
    st.sampled_from(["true", "false", "null", "12", "-3.5", "bare", '"2020-01-01T00:00:00Z"']),
)


@st.composite
def filters(draw, depth=0):
    choice = draw(st.integers(0, 5 if depth < 2 else 1))
    if choice == 0:
        return f"{draw(_attr)} {draw(_op)} {draw(_value)}"
    if choice == 1:
        return f"{draw(_attr)} pr"
    if choice == 2:
        return f"({draw(filters(depth + 1))}) {draw(st.sampled_from(['and', 'or']))} {draw(filters(depth + 1))}"
    if choice == 3:
        return f"not ({draw(filters(depth + 1))})"
    if choice == 4:
        return f"{draw(st.sampled_from(['emails', 'phoneNumbers', 'addresses', 'members', 'roles']))}[{draw(filters(depth + 1))}]"
    return draw(st.text(max_size=30))


SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _assert_clean(response):
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text
    if response.status_code >= 400:
        body = response.json()
        assert body["status"] == str(response.status_code)


@SETTINGS
@given(
    expression=filters(),
    sort=st.sampled_from([None, "userName", "title", "meta.created", "emails", "bogus"]),
)
def test_random_filters(scim, expression, sort):
    params = {"filter": expression}
    if sort:
        params["sortBy"] = sort
    _assert_clean(scim.get("/Users", params=params))
    _assert_clean(scim.get("/Groups", params={"filter": expression}))


@pytest.mark.slow
@SETTINGS
@given(
    ops=st.lists(
        st.fixed_dictionaries(
            {"op": st.sampled_from(["add", "Replace", "remove", "x"])},
            optional={"path": st.one_of(_attr, st.text(max_size=20)), "value": _json},
        ),
        min_size=1,
        max_size=4,
    )
)
def test_random_patches(scim, ops):
    uid = scim.post("/Users", json=user_body("fuzz@x.com")).json()["id"]
    try:
        body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}
        _assert_clean(scim.patch(f"/Users/{uid}", json=body))
        gid = scim.post("/Groups", json={"displayName": "fuzz"}).json()["id"]
        _assert_clean(scim.patch(f"/Groups/{gid}", json=body))
        scim.delete(f"/Groups/{gid}")
    finally:
        scim.delete(f"/Users/{uid}")


@pytest.mark.slow
@SETTINGS
@given(
    body=st.dictionaries(
        st.sampled_from(
            [
                "userName",
                "name",
                "emails",
                "active",
                "schemas",
                "meta",
                "urn:x:y:z:w",
                "members",
                "displayName",
                "manager",
                "groups",
                "addresses",
            ]
        ),
        _json,
        max_size=6,
    )
)
def test_random_creates(scim, body):
    r = scim.post("/Users", json=body)
    _assert_clean(r)
    if r.status_code == 201:
        scim.delete(f"/Users/{r.json()['id']}")
    r = scim.post("/Groups", json=body)
    _assert_clean(r)
    if r.status_code == 201:
        scim.delete(f"/Groups/{r.json()['id']}")

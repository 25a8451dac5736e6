"""Filters compiled to SQL (store/filter_sql.py), checked against expected ids on both databases."""

import pytest

from tests.helpers.scim import user_body

ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@pytest.fixture
def people(scim):
    """Four users with varied attributes; returns userName -> id."""
    specs = [
        user_body(
            "alice@x.com",
            title="Engineer",
            active=True,
            nickName="al",
            emails=[
                {"type": "work", "value": "alice@x.com", "primary": True},
                {"type": "home", "value": "al@home.org"},
            ],
            phoneNumbers=[{"type": "mobile", "value": "+1 555"}],
            **{ENT: {"department": "R&D", "employeeNumber": "7"}},
        ),
        user_body(
            "Bob@X.com",
            title="Manager",
            active=False,
            displayName="Bobby",
            emails=[{"type": "work", "value": "bob@x.com"}],
            **{ENT: {"department": "Sales"}},
        ),
        user_body(
            "carol@y.org", displayName="Carol", emails=[{"type": "home", "value": "carol@y.org"}]
        ),
        user_body("dave_%@y.org", displayName="Dave"),
    ]
    ids = {}
    for spec in specs:
        r = scim.post("/Users", json=spec)
        assert r.status_code == 201, r.text
        ids[spec["userName"]] = r.json()["id"]
    boss = ids["Bob@X.com"]
    op = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "manager", "value": boss}],
    }
    assert scim.patch(f"/Users/{ids['alice@x.com']}", json=op).status_code == 200
    return ids


CASES = [
    ('userName eq "ALICE@x.com"', ["alice@x.com"]),
    ('userName ne "alice@x.com"', ["Bob@X.com", "carol@y.org", "dave_%@y.org"]),
    ('userName sw "b"', ["Bob@X.com"]),
    ('userName ew "Y.ORG"', ["carol@y.org", "dave_%@y.org"]),
    ('userName co "_%"', ["dave_%@y.org"]),
    ('userName gt "c"', ["carol@y.org", "dave_%@y.org"]),
    ('externalId eq "ext-alice@x.com"', ["alice@x.com"]),
    ('externalId eq "EXT-alice@x.com"', []),
    ('not (externalId sw "ext-a")', ["Bob@X.com", "carol@y.org", "dave_%@y.org"]),
    ('externalId ew "X.com"', ["Bob@X.com"]),
    ('externalId co "_%"', ["dave_%@y.org"]),
    ("active eq false", ["Bob@X.com"]),
    ("active eq true and title pr", ["alice@x.com"]),
    ('title eq "engineer"', ["alice@x.com"]),
    ("nickName pr", ["alice@x.com"]),
    ("not (title pr)", ["carol@y.org", "dave_%@y.org"]),
    ('displayName eq "bobby"', ["Bob@X.com"]),
    ('emails.value eq "AL@HOME.ORG"', ["alice@x.com"]),
    ('emails eq "bob@x.com"', ["Bob@X.com"]),
    ('emails[type eq "work"].value eq "alice@x.com"', ["alice@x.com"]),
    ('emails[type eq "work" and value co "@x.com"]', ["alice@x.com", "Bob@X.com"]),
    ('emails[type eq "home"]', ["alice@x.com", "carol@y.org"]),
    ("emails[primary eq true]", ["alice@x.com", "dave_%@y.org"]),
    ('phoneNumbers[type eq "mobile"].value eq "+1 555"', ["alice@x.com"]),
    ('phoneNumbers.type eq "mobile"', ["alice@x.com"]),
    (f'{ENT}:department eq "r&d"', ["alice@x.com"]),
    (
        'name.familyName eq "jensen" and (title eq "Manager" or title eq "Engineer")',
        ["alice@x.com", "Bob@X.com"],
    ),
    ('meta.resourceType eq "User"', ["alice@x.com", "Bob@X.com", "carol@y.org", "dave_%@y.org"]),
    (
        'meta.created gt "2000-01-01T00:00:00Z"',
        ["alice@x.com", "Bob@X.com", "carol@y.org", "dave_%@y.org"],
    ),
    ('meta.lastModified lt "2000-01-01T00:00:00Z"', []),
]


@pytest.mark.parametrize("expression, expected", CASES)
def test_user_filters(scim, people, expression, expected):
    r = scim.get("/Users", params={"filter": expression, "count": 50})
    assert r.status_code == 200, r.text
    got = sorted(res["userName"] for res in r.json()["Resources"])
    assert got == sorted(expected)
    assert r.json()["totalResults"] == len(expected)


def test_unquoted_numeric_external_id_still_matches(scim):
    """Entra's unquoted `externalId eq 12345` reads as a number: compare it as the string it stands for."""
    scim.post("/Users", json=user_body("n@x.com", externalId="12345"))
    r = scim.get("/Users", params={"filter": "externalId eq 12345"}).json()
    assert r["totalResults"] == 1


def test_manager_filters(scim, people):
    """§1.6: `id eq X and manager eq Y` with attributes=id returns only id, or nothing."""
    alice, bob = people["alice@x.com"], people["Bob@X.com"]
    r = scim.get(
        "/Users", params={"filter": f"id eq {alice} and manager eq {bob}", "attributes": "id"}
    ).json()
    assert r["totalResults"] == 1 and r["Resources"] == [
        {"schemas": r["Resources"][0]["schemas"], "id": alice}
    ]
    r = scim.get("/Users", params={"filter": f'id eq "{alice}" and manager eq "{alice}"'}).json()
    assert r["totalResults"] == 0
    r = scim.get("/Users", params={"filter": f'{ENT}:manager.value eq "{bob}"'}).json()
    assert [u["id"] for u in r["Resources"]] == [alice]


@pytest.mark.parametrize(
    "bad",
    [
        "userName eq",
        "bogus eq 1",
        'emails[type eq "work"',
        "active gt true",
        'meta.created gt "yesterday"',
        'name eq "x"',
    ],
)
def test_bad_filters_are_400_invalid_filter(scim, people, bad):
    r = scim.get("/Users", params={"filter": bad})
    assert r.status_code == 400, r.text
    assert r.json()["scimType"] == "invalidFilter"


def test_sorting_and_paging(scim, people):
    r = scim.get(
        "/Users",
        params={"sortBy": "userName", "sortOrder": "descending", "count": 2, "startIndex": 2},
    ).json()
    assert r["totalResults"] == 4 and r["startIndex"] == 2 and r["itemsPerPage"] == 2
    assert [u["userName"] for u in r["Resources"]] == ["carol@y.org", "Bob@X.com"]
    r = scim.get("/Users", params={"count": 0}).json()
    assert r["totalResults"] == 4 and r["Resources"] == []
    r = scim.get("/Users", params={"startIndex": 10}).json()
    assert r["totalResults"] == 4 and r["Resources"] == []
    r = scim.get("/Users", params={"startIndex": -3, "count": -1}).json()
    assert r["startIndex"] == 1 and r["Resources"] == []
    r = scim.get("/Users", params={"sortBy": "title"}).json()
    assert r["totalResults"] == 4
    assert scim.get("/Users", params={"count": "many"}).status_code == 400
    assert scim.get("/Users", params={"sortBy": "emails"}).status_code == 400


def test_paging_walks_every_user_once(scim):
    for i in range(23):
        scim.post("/Users", json=user_body(f"u{i:02d}@x.com"))
    seen = []
    start = 1
    while True:
        page = scim.get("/Users", params={"startIndex": start, "count": 5}).json()
        assert page["totalResults"] == 23 and page["startIndex"] == start
        if not page["Resources"]:
            break
        seen += [u["id"] for u in page["Resources"]]
        start += len(page["Resources"])
    assert len(seen) == len(set(seen)) == 23


def test_search_endpoints(scim, people):
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": 'userName sw "a"',
        "attributes": ["userName"],
        "count": 10,
    }
    r = scim.post("/Users/.search", json=body)
    assert r.status_code == 200, r.text
    assert [u["userName"] for u in r.json()["Resources"]] == ["alice@x.com"]
    assert set(r.json()["Resources"][0]) == {"schemas", "id", "userName"}
    scim.post("/Groups", json={"displayName": "Admins"})
    r = scim.post(
        "/.search",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'displayName eq "admins" or userName eq "alice@x.com"',
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["totalResults"] == 2
    assert {x["meta"]["resourceType"] for x in r.json()["Resources"]} == {"User", "Group"}
    r = scim.post(
        "/.search",
        json={"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "count": 3},
    )
    assert r.json()["totalResults"] == 5 and len(r.json()["Resources"]) == 3
    assert scim.post("/Users/.search", json={"schemas": ["urn:x"]}).status_code == 400
    # A SearchRequest's projection is its own: query-string attributes do not leak into it.
    r = scim.post("/Users/.search?attributes=id", json={"filter": 'userName sw "a"'})
    assert "userName" in r.json()["Resources"][0]


LOOKUPS_USERS = [
    'userName eq "BOB@x.com"',
    'externalId eq "ext-alice@x.com"',
    "externalId eq ext-carol@y.org",
    'emails.value eq "al@home.org"',
    'emails eq "BOB@X.COM"',
    'emails[type eq "work"].value eq "alice@x.com"',
    'emails[type eq "WORK" and value eq "carol@y.org"]',
    'emails[value eq "carol@y.org"]',
    "manager eq {bob}",
    'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "{bob}"',
    'id eq "{alice}" and manager eq "{bob}"',
    'id eq "{alice}" and manager eq "{alice}"',
    'userName eq "alice@x.com" and externalId eq "nope"',
]


@pytest.mark.parametrize("template", LOOKUPS_USERS)
def test_lookup_fast_path_agrees_with_general_compiler(scim, people, engine, template):
    """The pre-written lookup SQL and the general compiler return the same rows."""
    from scimgate.scim.filter import parse_filter
    from scimgate.scim.schema import user_schema
    from scimgate.store import list_pages as store
    from scimgate.store.filter_sql import compile_filter
    from scimgate.store.lookups import compile_lookup

    expression = template.format(alice=people["alice@x.com"], bob=people["Bob@X.com"])
    ast = parse_filter(expression)
    with engine.begin() as conn:
        dialect = conn.dialect.name
        fast = compile_lookup(
            ast, "User", account_id=scim.account_id, postgres=dialect == "postgresql"
        )
        assert fast is not None, "this shape should take the fast path"
        total_fast, rows_fast = store.lookup_resources(
            conn, scim.account_id, "User", where=fast[0], params=fast[1], offset=0, limit=50
        )
        where = compile_filter(ast, user_schema(), dialect, account_id=scim.account_id)
        total_slow, rows_slow = store.query_resources(
            conn, scim.account_id, "User", where=where, order_by=[], offset=0, limit=50
        )
    assert total_fast == total_slow
    assert [r["id"] for r in rows_fast] == [r["id"] for r in rows_slow]


def test_non_lookup_shapes_take_the_general_path():
    from scimgate.scim.filter import parse_filter
    from scimgate.store.lookups import compile_lookup

    for expression in [
        'userName sw "a"',
        'title eq "x"',
        'userName eq "a" or userName eq "b"',
        "active eq true",
        'emails[type eq "work"].value co "x"',
    ]:
        assert (
            compile_lookup(parse_filter(expression), "User", account_id=1, postgres=False) is None
        ), expression

"""/api/v1/members: pages, filters, manual members, typed Property values, and what a
provisioned member refuses."""

from __future__ import annotations

import pytest

from tests.helpers.api import assert_invalid, assert_problem
from tests.helpers.sync import add_property, create_user, patch_user, set_active, sync


@pytest.fixture
def props(api, engine):
    """One Property of every type (none mapped from SCIM)."""
    aid = api.account_id
    return {
        "Level": add_property(engine, aid, "Level", "number"),
        "Start": add_property(engine, aid, "Start", "date"),
        "Remote": add_property(engine, aid, "Remote", "boolean"),
        "Tier": add_property(engine, aid, "Tier", "select", ["Gold", "Silver"]),
        "Buddy": add_property(engine, aid, "Buddy", "member"),
        "Notes": add_property(engine, aid, "Notes", "text"),
    }


def create(api, email, **body):
    return api.ok("POST", "/members", 201, json={"email": email, **body})


@pytest.fixture
def provisioned(api, engine):
    """Two members synced from SCIM (the default mapping installed): ada and bob."""
    ids = {
        "ada": create_user(api.scim, "ada@example.com", displayName="Ada", title="Engineer"),
        "bob": create_user(api.scim, "bob@example.com", displayName="Bob"),
    }
    assert sync(engine, api.account_id).status == "succeeded"
    members = api.ok("GET", "/members?source=scim")["data"]
    by_email = {m["email"]: m for m in members}
    return {
        "ada": by_email["ada@example.com"],
        "bob": by_email["bob@example.com"],
        "directory": ids,
    }


# ---- list and get ----


def test_an_empty_account_lists_nothing(api):
    assert api.ok("GET", "/members") == {"data": [], "next_cursor": None}


@pytest.mark.parametrize("n, limit", [(7, 3), (6, 3), (1, 1), (5, 200)])
def test_pages_cover_every_member_exactly_once(api, n, limit):
    created = {create(api, f"m{i}@example.com")["id"] for i in range(n)}
    seen, pages, cursor = [], 0, None
    while True:
        query = f"/members?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        page = api.ok("GET", query)
        pages += 1
        assert len(page["data"]) <= limit
        seen += [m["id"] for m in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert page["data"] and cursor == page["data"][-1]["id"]
        assert pages <= n + 1
    assert len(seen) == len(set(seen)) == n
    assert set(seen) == created
    assert pages == max(1, -(-n // limit))  # no empty trailing page


def test_a_page_of_a_full_listing_keeps_its_order(api):
    for i in range(4):
        create(api, f"m{i}@example.com")
    everything = [m["id"] for m in api.ok("GET", "/members")["data"]]
    assert everything == sorted(everything)


def test_filters_status_source_and_q(api, engine, provisioned):
    manual = create(api, "carol@Example.com", name="Carol 50% Smith")
    set_active(api.scim, provisioned["directory"]["bob"], "False")
    assert sync(engine, api.account_id).status == "succeeded"

    def emails(query):
        return sorted(m["email"] for m in api.ok("GET", "/members" + query)["data"])

    assert emails("") == ["ada@example.com", "bob@example.com", "carol@Example.com"]
    assert emails("?source=manual") == ["carol@Example.com"]
    assert emails("?source=scim") == ["ada@example.com", "bob@example.com"]
    assert emails("?status=deactivated") == ["bob@example.com"]
    assert emails("?status=active") == ["ada@example.com", "carol@Example.com"]
    assert emails("?status=active&source=scim") == ["ada@example.com"]
    assert emails("?q=CAROL") == ["carol@Example.com"]  # name, any case
    assert emails("?q=example.com") == [
        "ada@example.com",
        "bob@example.com",
        "carol@Example.com",
    ]
    assert emails("?q=ada%40") == ["ada@example.com"]  # email
    assert emails("?q=50%25") == ["carol@Example.com"]  # a literal %
    assert emails("?q=5_%25") == []  # _ is not a wildcard
    assert emails("?q=nobody") == []
    doc = api.ok("GET", f"/members/{manual['id']}")
    assert doc["status"] == "active" and doc["source"] == "manual"


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=201",
        "limit=-1",
        "limit=abc",
        "limit=1.5",
        "status=gone",
        "status=ACTIVE",
        "status=",
        "source=x",
        "source=SCIM",
        "q=" + "x" * 201,
        "cursor=" + "x" * 2049,
    ],
)
def test_invalid_query_is_a_400_problem_with_errors(api, query):
    r = api.get("/members?" + query)
    doc = assert_invalid(r)
    field = query.split("=")[0]
    assert any(field in e["loc"] for e in doc["errors"]), doc


def test_get_one_member(api, props):
    created = create(api, "ann@example.com", name="Ann", properties={"Level": 3})
    doc = api.ok("GET", f"/members/{created['id']}")
    assert doc == created
    assert doc["properties"] == {"Level": 3} and doc["property_sources"] == {"Level": "manual"}
    assert doc["directory_user_id"] is None
    for stamp in (doc["created_at"], doc["updated_at"]):
        assert stamp.endswith(("Z", "+00:00")), stamp


@pytest.mark.parametrize(
    "member_id",
    ["00000000-0000-0000-0000-000000000000", "nope", "x" * 300, "%25", "..%2F..%2Fteams"],
)
def test_an_unknown_member_is_404(api, member_id):
    create(api, "ann@example.com")
    assert_problem(api.get(f"/members/{member_id}"), 404)
    assert_problem(api.patch(f"/members/{member_id}", json={"name": "X"}), 404)


def test_a_member_id_with_a_known_id_as_prefix_is_404(api):
    """The id is matched exactly, not by prefix (ids are cut to 64 characters on lookup)."""
    created = create(api, "ann@example.com")
    assert_problem(api.get(f"/members/{created['id']}x"), 404)
    padded = created["id"] + "y" * 40
    assert_problem(api.get(f"/members/{padded}"), 404)


# ---- create ----


def test_create_a_manual_member(api):
    r = api.post("/members", json={"email": "  Ann.Lee@Example.COM ", "name": "  Ann Lee "})
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["email"] == "Ann.Lee@Example.COM"  # trimmed; its case kept
    assert doc["name"] == "Ann Lee"
    assert doc["status"] == "active" and doc["source"] == "manual"
    assert doc["properties"] == {} and doc["property_sources"] == {}
    assert api.ok("GET", f"/members/{doc['id']}") == doc


def test_the_name_defaults_to_the_local_part(api):
    assert create(api, "ann.lee@example.com")["name"] == "ann.lee"
    assert create(api, "bo@example.com", name="   ")["name"] == "bo"


def test_a_duplicate_email_is_409_case_insensitively(api, provisioned):
    create(api, "ann@example.com")
    for email in ("ann@example.com", "ANN@example.com", " Ann@Example.com "):
        assert_problem(api.post("/members", json={"email": email}), 409)
    # a provisioned member's email is taken too
    assert_problem(api.post("/members", json={"email": "Ada@example.com"}), 409)
    assert len(api.ok("GET", "/members")["data"]) == 3


@pytest.mark.parametrize(
    "email",
    ["", "   ", "ann", "ann@", "@example.com", "ann@example", "a b@example.com", "a@b@c.com"],
)
def test_an_invalid_email_is_400(api, email):
    assert_problem(api.post("/members", json={"email": email}), 400)
    assert api.ok("GET", "/members")["data"] == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": "Ann"},
        {"email": None},
        {"email": 5},
        {"email": ["a@example.com"]},
        {"email": "a@example.com", "name": None},
        {"email": "a@example.com", "properties": []},
        {"email": "a@example.com", "properties": "Level=3"},
        {"email": "a@example.com", "role": "admin"},
        {"email": "a@example.com", "status": "deactivated"},
        {"email": "a@example.com", "source": "scim"},
        {"email": "a@example.com", "id": "00000000-0000-0000-0000-000000000000"},
        {"email": "a@example.com", "name": "x" * 513},
        {"email": "a" * 320 + "@example.com"},
    ],
)
def test_a_malformed_create_body_is_400_with_errors(api, body):
    assert_invalid(api.post("/members", json=body))
    assert api.ok("GET", "/members")["data"] == []


@pytest.mark.parametrize(
    "content, content_type",
    [
        (b"{", "application/json"),
        (b"not json", "application/json"),
        (b"[]", "application/json"),
        (b"null", "application/json"),
        (b'"a@example.com"', "application/json"),
        (b"email=a@example.com", "application/x-www-form-urlencoded"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_400(api, content, content_type):
    r = api.post("/members", content=content, headers={"Content-Type": content_type})
    assert_problem(r, 400)


def test_an_unknown_property_name_is_400(api, props):
    r = api.post("/members", json={"email": "a@example.com", "properties": {"Shoe size": 42}})
    assert_problem(r, 400, contains="Shoe size")
    assert api.ok("GET", "/members")["data"] == []


def test_property_names_are_matched_case_insensitively(api, props):
    doc = create(api, "a@example.com", properties={"level": 2, " TIER ": "silver"})
    assert doc["properties"] == {"Level": 2, "Tier": "Silver"}


def test_typed_values_are_coerced(api, props):
    buddy = create(api, "buddy@example.com")
    doc = create(
        api,
        "ann@example.com",
        properties={
            "Level": "1,234",
            "Start": "2024-05-01T22:30:00Z",
            "Remote": "yes",
            "Tier": "gold",
            "Buddy": "BUDDY@example.com",
            "Notes": 12.5,
        },
    )
    assert doc["properties"] == {
        "Buddy": "buddy@example.com",
        "Level": 1234,
        "Notes": "12.5",
        "Remote": True,
        "Start": "2024-05-01",
        "Tier": "Gold",
    }
    assert set(doc["property_sources"].values()) == {"manual"}
    again = create(
        api,
        "bo@example.com",
        properties={"Level": 2.5, "Start": "2024-02-29", "Remote": "False", "Buddy": buddy["id"]},
    )
    assert again["properties"] == {
        "Buddy": "buddy@example.com",
        "Level": 2.5,
        "Remote": False,
        "Start": "2024-02-29",
    }


def test_a_member_may_reference_itself_by_id_after_creation(api, props):
    ann = create(api, "ann@example.com")
    r = api.patch(f"/members/{ann['id']}", json={"properties": {"Buddy": ann["id"]}})
    assert r.status_code == 200 and r.json()["properties"] == {"Buddy": "ann@example.com"}


@pytest.mark.parametrize(
    "name, value",
    [
        ("Level", "abc"),
        ("Level", True),
        ("Level", "NaN"),
        ("Level", "1e400"),
        ("Level", [1]),
        ("Level", {"a": 1}),
        ("Start", "2024-02-30"),
        ("Start", "tomorrow"),
        ("Remote", "maybe"),
        ("Remote", 2),
        ("Tier", "Bronze"),
        ("Tier", ""),
        ("Buddy", "nobody@example.com"),
        ("Buddy", "00000000-0000-0000-0000-000000000000"),
        ("Buddy", ""),
        ("Notes", "x" * 2049),
        ("Notes", ["a", "b"]),
    ],
)
def test_a_bad_value_is_400_naming_the_property_and_leaves_no_member(api, props, name, value):
    body = {"email": "ann@example.com", "properties": {"Notes": "ok", name: value}}
    doc = assert_problem(api.post("/members", json=body), 400)
    assert name in doc["detail"], doc
    # one transaction: no member, no value left behind, and the email is still free
    assert api.ok("GET", "/members")["data"] == []
    assert create(api, "ann@example.com")["properties"] == {}


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_huge_number_spelled_as_text_is_400_not_500(api, props, method):
    huge = {"Level": "1e999999999999999999"}
    if method == "POST":
        r = api.post("/members", json={"email": "a@example.com", "properties": huge})
    else:
        ann = create(api, "ann@example.com")
        r = api.patch(f"/members/{ann['id']}", json={"properties": huge})
    assert_problem(r, 400, contains="Level")


def test_a_nul_anywhere_is_400(api, props):
    for body in (
        {"email": "a\x00@example.com"},
        {"email": "a@example.com", "name": "A\x00"},
        {"email": "a@example.com", "properties": {"Notes": "x\x00y"}},
        {"email": "a@example.com", "properties": {"No\x00tes": "x"}},
    ):
        assert_problem(api.post("/members", json=body), 400)
    assert api.ok("GET", "/members")["data"] == []


# ---- update ----


def test_update_a_manual_members_name_and_email(api):
    ann = create(api, "ann@example.com", name="Ann")
    doc = api.ok("PATCH", f"/members/{ann['id']}", json={"name": "Ann Lee"})
    assert doc["name"] == "Ann Lee" and doc["email"] == "ann@example.com"
    doc = api.ok("PATCH", f"/members/{ann['id']}", json={"email": " Ann.Lee@example.com "})
    assert doc["email"] == "Ann.Lee@example.com" and doc["name"] == "Ann Lee"
    assert doc["updated_at"] >= ann["updated_at"]
    assert api.ok("GET", f"/members/{ann['id']}") == doc
    # the old address is free again, the new one taken
    create(api, "ann@example.com")
    assert_problem(api.post("/members", json={"email": "ann.lee@EXAMPLE.com"}), 409)


def test_an_empty_update_changes_nothing(api):
    ann = create(api, "ann@example.com", name="Ann")
    assert api.ok("PATCH", f"/members/{ann['id']}", json={}) == ann
    assert api.ok("PATCH", f"/members/{ann['id']}", json={"properties": {}}) == ann
    assert api.ok("PATCH", f"/members/{ann['id']}", json={"name": None, "email": None}) == ann


def test_changing_only_the_case_of_an_email_is_allowed(api):
    ann = create(api, "ann@example.com")
    doc = api.ok("PATCH", f"/members/{ann['id']}", json={"email": "Ann@Example.com"})
    assert doc["email"] == "Ann@Example.com"


def test_a_nul_in_the_query_or_path_is_400(api):
    create(api, "ann@example.com")
    for path in ("/members?q=a%00b", "/members?cursor=%00", "/members/a%00b"):
        assert_problem(api.get(path), 400)


def test_updating_to_a_taken_email_is_409(api):
    ann = create(api, "ann@example.com")
    create(api, "bo@example.com")
    assert_problem(api.patch(f"/members/{ann['id']}", json={"email": "BO@example.com"}), 409)
    assert api.ok("GET", f"/members/{ann['id']}")["email"] == "ann@example.com"


def test_updating_to_an_invalid_email_is_400(api):
    ann = create(api, "ann@example.com")
    for email in ("", "nope", "a@b"):
        assert_problem(api.patch(f"/members/{ann['id']}", json={"email": email}), 400)
    assert api.ok("GET", f"/members/{ann['id']}")["email"] == "ann@example.com"


@pytest.mark.parametrize("field", ["name", "email"])
def test_a_provisioned_members_name_and_email_are_409(api, provisioned, field):
    ada = provisioned["ada"]
    value = "Someone" if field == "name" else "someone@example.com"
    doc = assert_problem(api.patch(f"/members/{ada['id']}", json={field: value}), 409)
    assert "provisioned" in doc["detail"]
    assert api.ok("GET", f"/members/{ada['id']}") == ada


def test_a_refused_update_writes_nothing_at_all(api, engine, provisioned):
    """Name refused: the Property value in the same body is not written either."""
    add_property(engine, api.account_id, "Notes", "text")
    ada = provisioned["ada"]
    body = {"name": "Someone", "properties": {"Notes": "hello"}}
    assert_problem(api.patch(f"/members/{ada['id']}", json=body), 409)
    assert api.ok("GET", f"/members/{ada['id']}") == ada


def test_manual_values_on_a_provisioned_member_survive_a_sync(api, engine, provisioned):
    add_property(engine, api.account_id, "Notes", "text")
    add_property(engine, api.account_id, "Level", "number")
    ada = provisioned["ada"]
    doc = api.ok("PATCH", f"/members/{ada['id']}", json={"properties": {"Notes": "likes tea"}})
    assert doc["properties"] == {"Job title": "Engineer", "Notes": "likes tea"}
    assert doc["property_sources"] == {"Job title": "scim", "Notes": "manual"}
    assert doc["name"] == "Ada" and doc["source"] == "scim"
    api.ok("PATCH", f"/members/{ada['id']}", json={"properties": {"level": "7"}})
    # the identity provider changes her; the next sync rewrites what is mapped only
    patch_user(api.scim, provisioned["directory"]["ada"], "displayName", "Ada Lovelace")
    patch_user(api.scim, provisioned["directory"]["ada"], "title", "Lead")
    result = sync(engine, api.account_id)
    assert result.status == "succeeded" and result.counts["updated"] == 1, result.counts
    after = api.ok("GET", f"/members/{ada['id']}")
    assert after["name"] == "Ada Lovelace"
    assert after["properties"] == {"Job title": "Lead", "Level": 7, "Notes": "likes tea"}
    assert after["property_sources"] == {"Job title": "scim", "Level": "manual", "Notes": "manual"}
    # and a sync with nothing new leaves them too
    assert sync(engine, api.account_id).counts["updated"] == 0
    assert api.ok("GET", f"/members/{ada['id']}")["properties"] == after["properties"]


@pytest.mark.parametrize("value", ["Boss", None])
def test_a_property_mapped_from_scim_on_a_provisioned_member_is_409(api, provisioned, value):
    ada = provisioned["ada"]
    r = api.patch(f"/members/{ada['id']}", json={"properties": {"Job title": value}})
    doc = assert_problem(r, 409)
    assert "Job title" in doc["detail"]
    assert api.ok("GET", f"/members/{ada['id']}")["properties"] == {"Job title": "Engineer"}


def test_a_mapped_property_on_a_manual_member_is_allowed(api, provisioned):
    """Nothing syncs onto a manual member, so a mapped Property is its to set."""
    ann = create(api, "ann@example.com", properties={"Job title": "Chef"})
    assert ann["properties"] == {"Job title": "Chef"}
    assert ann["property_sources"] == {"Job title": "manual"}


def test_null_clears_a_value(api, props):
    ann = create(api, "ann@example.com", properties={"Notes": "hi", "Level": 3, "Tier": "Gold"})
    doc = api.ok("PATCH", f"/members/{ann['id']}", json={"properties": {"Notes": None, "Level": 4}})
    assert doc["properties"] == {"Level": 4, "Tier": "Gold"}
    assert "Notes" not in doc["property_sources"]
    # clearing what is not set is fine
    doc = api.ok("PATCH", f"/members/{ann['id']}", json={"properties": {"Notes": None}})
    assert doc["properties"] == {"Level": 4, "Tier": "Gold"}


def test_a_bad_value_in_an_update_changes_nothing(api, props):
    ann = create(api, "ann@example.com", name="Ann", properties={"Notes": "hi"})
    body = {"name": "Changed", "properties": {"Notes": None, "Level": "lots"}}
    doc = assert_problem(api.patch(f"/members/{ann['id']}", json=body), 400)
    assert "Level" in doc["detail"]
    assert api.ok("GET", f"/members/{ann['id']}") == ann


@pytest.mark.parametrize(
    "body",
    [
        {"status": "deactivated"},
        {"source": "scim"},
        {"id": "x"},
        {"Name": "Ann"},
        {"name": "A", "extra": 1},
        {"properties": ["Notes"]},
        {"name": 5},
        {"name": "x" * 513},
    ],
)
def test_unknown_or_malformed_fields_in_an_update_are_400(api, props, body):
    ann = create(api, "ann@example.com", name="Ann")
    assert_invalid(api.patch(f"/members/{ann['id']}", json=body))
    assert api.ok("GET", f"/members/{ann['id']}") == ann


def test_an_unknown_property_in_an_update_is_400(api, props):
    ann = create(api, "ann@example.com")
    r = api.patch(f"/members/{ann['id']}", json={"properties": {"Shoe size": 42}})
    assert_problem(r, 400, contains="Shoe size")

"""An account never sees or changes another account's data: by id, filter, search, membership or $ref."""

import threading

import pytest

from tests.helpers.scim import user_body

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def theirs(other):
    """Account B's user and group (B is the `other` client)."""
    uid = other.post("/Users", json=user_body("secret@b.com", externalId="b-ext")).json()["id"]
    gid = other.post("/Groups", json={"displayName": "B team", "members": [{"value": uid}]}).json()[
        "id"
    ]
    return uid, gid


def test_ids_of_another_account_are_404_for_every_method(scim, theirs):
    uid, gid = theirs
    for kind, rid in (("Users", uid), ("Groups", gid)):
        assert scim.get(f"/{kind}/{rid}").status_code == 404
        assert (
            scim.put(
                f"/{kind}/{rid}",
                json=user_body("x@a.com") if kind == "Users" else {"displayName": "x"},
            ).status_code
            == 404
        )
        assert (
            scim.patch(
                f"/{kind}/{rid}",
                json={
                    "schemas": [PATCH],
                    "Operations": [{"op": "replace", "path": "displayName", "value": "pwned"}],
                },
            ).status_code
            == 404
        )
        assert scim.delete(f"/{kind}/{rid}").status_code == 404


def test_filters_and_searches_see_only_own_rows(scim, other, theirs):
    uid, gid = theirs
    for expression in [
        'userName eq "secret@b.com"',
        'externalId eq "b-ext"',
        f'id eq "{uid}"',
        'emails.value eq "secret@b.com"',
        f'groups.value eq "{gid}"',
    ]:
        assert scim.get("/Users", params={"filter": expression}).json()["totalResults"] == 0, (
            expression
        )
    assert (
        scim.get("/Groups", params={"filter": f'members[value eq "{uid}"]'}).json()["totalResults"]
        == 0
    )
    assert scim.get("/Users").json()["totalResults"] == 0
    assert (
        scim.post(
            "/.search", json={"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]}
        ).json()["totalResults"]
        == 0
    )
    assert other.get("/Users").json()["totalResults"] == 1


def test_cannot_add_another_accounts_user_to_own_group(scim, other, theirs):
    uid, gid = theirs
    mine = scim.post("/Groups", json={"displayName": "A team"}).json()["id"]
    r = scim.patch(
        f"/Groups/{mine}",
        json={
            "schemas": [PATCH],
            "Operations": [
                {"op": "add", "path": "members", "value": [{"value": uid}, {"value": gid}]}
            ],
        },
    )
    # An anonymous client: 200 and the group (RFC 7644 §3.5.2), which shows nobody linked.
    assert r.status_code == 200 and r.json()["members"] == [], "left out (and logged)"
    r = scim.post("/Groups", json={"displayName": "A2", "members": [{"value": uid}]})
    assert r.status_code == 201 and r.json()["members"] == []
    assert scim.get(f"/Groups/{mine}").json()["members"] == []
    r = scim.put(f"/Groups/{mine}", json={"displayName": "A team", "members": [{"value": gid}]})
    assert r.status_code == 200 and r.json()["members"] == []
    assert scim.get("/Groups", params={"filter": f'members eq "{uid}"'}).json()["totalResults"] == 0
    assert [m["value"] for m in other.get(f"/Groups/{gid}").json()["members"]] == [uid]


def test_same_names_in_two_accounts_do_not_conflict(scim, other, theirs):
    assert scim.post("/Users", json=user_body("secret@b.com")).status_code == 201
    assert scim.post("/Groups", json={"displayName": "B team"}).status_code == 201


def test_removing_members_cannot_touch_another_account(scim, other, theirs):
    uid, gid = theirs
    mine = scim.post("/Groups", json={"displayName": "A team"}).json()["id"]
    scim.patch(
        f"/Groups/{mine}",
        json={
            "schemas": [PATCH],
            "Operations": [{"op": "remove", "path": f'members[value eq "{uid}"]'}],
        },
    )
    assert [m["value"] for m in other.get(f"/Groups/{gid}").json()["members"]] == [uid]


def test_concurrent_duplicate_creates_give_one_201_and_one_409(settings, make_account):
    """Uniqueness comes from the database constraint, so racing creates cannot both win."""
    from scimgate.errors import ConflictError
    from scimgate.provisioning import directory
    from scimgate.store.database import make_engine, utcnow

    _slug, _token, account_id = make_account("race")
    engine = make_engine(settings.database_url)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def create() -> None:
        with engine.connect() as conn:
            conn.execution_options(writes=False)
            try:
                with conn.begin():
                    barrier.wait(timeout=10)
                    directory.create(
                        conn, account_id, "User", user_body("twin@x.com"), now=utcnow()
                    )
                outcomes.append("201")
            except ConflictError:
                outcomes.append("409")

    threads = [threading.Thread(target=create) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.dispose()
    assert sorted(outcomes) == ["201", "409"]

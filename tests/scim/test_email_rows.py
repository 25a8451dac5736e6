"""A User's e-mail rows (what `emails eq` lookups read) follow every write of the user."""

from __future__ import annotations

from typing import Any

from tests.helpers.scim import user_body

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _found(scim: Any, email: str) -> int:
    response = scim.get(
        "/Users", params={"filter": f'emails[type eq "work" and value eq "{email}"]'}
    )
    assert response.status_code == 200
    by_value = scim.get("/Users", params={"filter": f'emails.value eq "{email}"'}).json()
    assert by_value["totalResults"] == response.json()["totalResults"]
    return response.json()["totalResults"]


def _emails(*values: str) -> list[dict[str, Any]]:
    return [{"type": "work", "value": v, "primary": i == 0} for i, v in enumerate(values)]


def test_email_rows_follow_patch_put_and_fewer_or_more_addresses(scim: Any) -> None:
    created = scim.post(
        "/Users", json=user_body("ann@example.com", emails=_emails("a1@x.com", "a2@x.com"))
    )
    assert created.status_code == 201, created.text
    uid = created.json()["id"]
    assert _found(scim, "a1@x.com") == 1 and _found(scim, "a2@x.com") == 1

    one = {
        "schemas": [PATCH],
        "Operations": [{"op": "replace", "path": "emails", "value": _emails("b1@x.com")}],
    }
    assert scim.patch(f"/Users/{uid}", json=one).status_code == 200
    assert (_found(scim, "a1@x.com"), _found(scim, "a2@x.com"), _found(scim, "b1@x.com")) == (
        0,
        0,
        1,
    )

    three = {
        "schemas": [PATCH],
        "Operations": [
            {
                "op": "Replace",
                "path": "emails",
                "value": _emails("c1@x.com", "c2@x.com", "C3@X.com"),
            }
        ],
    }
    assert scim.patch(f"/Users/{uid}", json=three).status_code == 200
    assert _found(scim, "b1@x.com") == 0
    assert [_found(scim, e) for e in ("c1@x.com", "c2@x.com", "c3@x.com")] == [1, 1, 1]

    # A PATCH that does not touch the e-mails leaves them as they were.
    name = {
        "schemas": [PATCH],
        "Operations": [{"op": "Replace", "path": "displayName", "value": "Ann"}],
    }
    assert scim.patch(f"/Users/{uid}", json=name).status_code == 200
    assert [_found(scim, e) for e in ("c1@x.com", "c2@x.com", "c3@x.com")] == [1, 1, 1]

    put = user_body("ann@example.com", emails=_emails("d1@x.com"))
    assert scim.put(f"/Users/{uid}", json=put).status_code == 200
    assert (_found(scim, "c1@x.com"), _found(scim, "d1@x.com")) == (0, 1)

    gone = {"schemas": [PATCH], "Operations": [{"op": "remove", "path": "emails"}]}
    assert scim.patch(f"/Users/{uid}", json=gone).status_code == 200
    assert _found(scim, "d1@x.com") == 0


def test_a_taken_user_name_on_create_leaves_no_rows(scim: Any) -> None:
    assert scim.post("/Users", json=user_body("bob@example.com")).status_code == 201
    again = scim.post(
        "/Users", json=user_body("BOB@example.com", externalId="other", emails=_emails("z@x.com"))
    )
    assert again.status_code == 409
    assert _found(scim, "z@x.com") == 0
    assert scim.get("/Users").json()["totalResults"] == 1

"""The IdP profile: habits recorded from Entra- and Okta-shaped traffic, the guess, the PATCH
answer each client gets, per account; shown by /api/v1, the CLI and the console."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scimgate.scim.client_habits import client_of_agent, habits_of, request_client
from scimgate.scim.client_profile import HabitSeen, PatchAnswer, guess, patch_answer
from tests.helpers.scim import user_body

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
OKTA = {"User-Agent": "Okta SCIM Client 1.0.0"}
NO_AGENT = {"User-Agent": ""}  # the test client otherwise says "testclient"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def ops(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def flush(app: Any) -> None:
    """What the request log's writer does about once a second."""
    app.state.request_log.flush()


def seen(code: str, days_ago: float = 0, sample: str | None = None) -> HabitSeen:
    at = datetime(2026, 12, 1, tzinfo=UTC) - timedelta(days=days_ago)
    return HabitSeen(code, 1, at, at, sample)


# ---- the pure parts --------------------------------------------------------------------------


def test_entra_without_the_flag_is_told_by_its_patch_shapes():
    body = ops(
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": "u1"}]},
    )
    found = habits_of("PATCH", "/scim/v2/Groups/g1", "", None, body)
    assert set(found) == {"capitalised_ops", "string_booleans", "remove_members_by_value"}
    assert request_client(None, "", body) == "entra"
    profile = guess([seen(code) for code in found])
    assert profile.idp == "entra" and profile.confidence == "medium"
    assert profile.headline == "Microsoft Entra ID (without aadOptscim062020 flag)"


def test_entra_with_the_flag_is_told_by_dotted_keys_and_the_query_flag():
    body = ops({"op": "replace", "value": {"name.givenName": "K", f"{ENT}:employeeNumber": "1"}})
    found = habits_of("PATCH", "/scim/v2/Users/u1", "aadOptscim062020", None, body)
    assert set(found) == {"entra_flag_in_url", "dotted_pathless_keys"}
    assert request_client(None, "aadOptscim062020", body) == "entra"
    assert request_client(None, "", body) is None  # lowercase ops alone name nobody
    profile = guess([seen(code) for code in found])
    assert profile.headline == "Microsoft Entra ID (with aadOptscim062020 flag)"
    # The most recent telling habit decides: the flag was turned on after a while without.
    later = guess([seen("capitalised_ops", days_ago=2), seen("dotted_pathless_keys")])
    assert later.entra_flag == "with"


def test_okta_names_itself_and_pages_its_lookups():
    query = "filter=userName%20eq%20%22a%40b%22&startIndex=1&count=100"
    found = habits_of("GET", "/scim/v2/Users", query, "Okta SCIM Client 1.0.0", None)
    assert set(found) == {"agent_okta", "paged_user_lookups"}
    assert habits_of("PUT", "/scim/v2/Users/u1", "", None, {}) == ("put_user_updates",)
    profile = guess([seen("agent_okta", sample="Okta SCIM Client 1.0.0"), seen("capitalised_ops")])
    assert profile.idp == "okta" and profile.confidence == "high"
    assert profile.user_agent == "Okta SCIM Client 1.0.0"


def test_old_habits_stop_counting_and_unknown_clients_stay_unknown():
    assert guess([]).idp is None and guess([]).headline == "Unknown"
    switched = guess([seen("agent_okta", days_ago=60), seen("capitalised_ops")])
    assert switched.idp == "entra"
    assert guess([seen("remove_members_by_filter")]).idp is None  # Entra and Okta both send it
    assert guess([seen("put_user_updates")]).decisive_idp is None  # a faint guess is not acted on


def test_patch_answers():
    assert patch_answer("Group", "entra", projected=False) is PatchAnswer.NO_CONTENT
    assert patch_answer("Group", "okta", projected=False) is PatchAnswer.WITHOUT_MEMBERS
    assert patch_answer("Group", None, projected=False) is PatchAnswer.RESOURCE
    assert patch_answer("Group", "entra", projected=True) is PatchAnswer.RESOURCE
    assert patch_answer("User", "entra", projected=False) is PatchAnswer.RESOURCE


# ---- recorded from traffic, per account ------------------------------------------------------


def _group_with_member(scim: Any) -> tuple[str, str]:
    uid = scim.post("/Users", json=user_body("m@example.com")).json()["id"]
    r = scim.post("/Groups", json={"displayName": "G", "members": [{"value": uid}]})
    assert r.status_code == 201, r.text
    return r.json()["id"], uid


def test_okta_traffic_makes_an_okta_profile_and_okta_group_answers(app, make_api):
    api, other_api = make_api("okta1"), make_api("other1")
    scim, other = api.scim, other_api.scim
    scim.get('/Users?filter=userName eq "x@okta.local"&startIndex=1&count=100', headers=OKTA)
    gid, _uid = _group_with_member(scim)
    flush(app)
    # Later PATCHes without a User-Agent follow the account's profile.
    body = ops({"op": "replace", "value": {"displayName": "H"}})
    r = scim.patch(f"/Groups/{gid}", json=body, headers=NO_AGENT)
    assert r.status_code == 200, r.text
    assert r.json()["displayName"] == "H" and "members" not in r.json()
    # The other account saw none of it: an unknown client, 200 and the whole group.
    ogid, ouid = _group_with_member(other)
    r = other.patch(f"/Groups/{ogid}", json=body, headers=NO_AGENT)
    assert r.status_code == 200 and [m["value"] for m in r.json()["members"]] == [ouid]

    profile = api.ok("GET", "/provisioning/profile")
    assert profile["idp"] == "okta" and profile["confidence"] == "high"
    assert profile["user_agent"] == "Okta SCIM Client 1.0.0"
    codes = {h["code"]: h for h in profile["habits"]}
    assert set(codes) == {"agent_okta", "paged_user_lookups"}
    assert codes["agent_okta"]["count"] == 1
    assert other_api.ok("GET", "/provisioning/profile")["idp"] is None


def test_entra_traffic_with_the_flag_makes_group_patches_204(scim, app):
    gid, uid = _group_with_member(scim)
    # Entra with aadOptscim062020 sends lowercase ops; its group reads exclude members and
    # its path-less updates carry dotted keys.
    scim.get('/Groups?excludedAttributes=members&filter=displayName eq "G"')
    r = scim.patch(f"/Users/{uid}", json=ops({"op": "replace", "value": {"name.givenName": "K"}}))
    assert r.status_code == 200  # Users: 200 and the user, for everyone
    body = ops({"op": "remove", "path": f'members[value eq "{uid}"]'})
    before = scim.patch(f"/Groups/{gid}", json=body)
    assert before.status_code == 200, "not recorded yet: an unknown client"
    flush(app)
    add = ops({"op": "add", "path": "members", "value": [{"value": uid}]})
    r = scim.patch(f"/Groups/{gid}", json=add, headers=NO_AGENT)
    assert r.status_code == 204 and r.content == b"" and r.headers["etag"] == 'W/"3"'
    # A request naming another client (a script, a validator) is that client's: the RFC's
    # first choice, whatever the account's identity provider is.
    remove = ops({"op": "remove", "path": f'members[value eq "{uid}"]'})
    r = scim.patch(f"/Groups/{gid}", json=remove, headers={"User-Agent": "curl/8.5.0"})
    assert r.status_code == 200 and r.json()["id"] == gid


@pytest.mark.parametrize(
    "agent", ["CentralIdentity/2.1", "Concentra-Sync 1.0", "SailPoint Central", "Rokta-Bridge"]
)
def test_a_user_agent_containing_an_idp_name_inside_a_word_names_nobody(agent):
    assert client_of_agent(agent) is None
    assert request_client(agent, "", None) is None


@pytest.mark.parametrize(
    ("agent", "idp"),
    [
        ("Okta SCIM Client 1.0.0", "okta"),
        ("Microsoft Azure AD SCIM provisioning", "entra"),
        ("Microsoft Entra ID", "entra"),
        ("AzureAD-Provisioning/1.0", "entra"),
        ("Microsoft.Azure.ActiveDirectory", "entra"),
        ("entra_sync", "entra"),
        ("OneLogin SCIM", "onelogin"),
        ("JumpCloud/1.0", "jumpcloud"),
    ],
)
def test_a_user_agent_naming_an_idp_in_whole_words(agent, idp):
    assert client_of_agent(agent) == idp


def test_a_concentra_client_is_not_told_entras_204(scim, app):
    gid, _uid = _group_with_member(scim)
    agent = {"User-Agent": "Concentra-Sync 1.0"}
    scim.get("/Users", headers=agent)
    flush(app)
    body = ops({"op": "replace", "path": "displayName", "value": "H"})
    for headers in (agent, NO_AGENT):
        r = scim.patch(f"/Groups/{gid}", json=body, headers=headers)
        assert r.status_code == 200 and r.json()["members"], headers


def test_one_group_read_without_members_does_not_make_an_account_entra(scim, app):
    """excludedAttributes is RFC 7644's: any client may ask for it (a hint, low confidence)."""
    gid, uid = _group_with_member(scim)
    scim.get("/Groups?excludedAttributes=members", headers=NO_AGENT)
    flush(app)
    body = ops({"op": "replace", "path": "displayName", "value": "H"})
    r = scim.patch(f"/Groups/{gid}", json=body, headers=NO_AGENT)
    assert r.status_code == 200 and [m["value"] for m in r.json()["members"]] == [uid]
    profile = guess([seen("groups_without_members")])
    assert profile.idp == "entra" and profile.confidence == "low"
    assert profile.decisive_idp is None


def test_hints_alone_are_never_acted_on():
    hints = [seen("paged_user_lookups"), seen("put_user_updates"), seen("pathless_active_patch")]
    assert guess(hints).idp == "okta" and guess(hints).decisive_idp is None
    with_a_habit = guess([seen("groups_without_members"), seen("capitalised_ops")])
    assert with_a_habit.idp == "entra" and with_a_habit.confidence == "medium"


def test_counts_add_up_across_flushes(scim, app, engine):
    from scimgate.provisioning import idp_profile

    for _ in range(3):
        scim.get("/Users", headers=OKTA)
    flush(app)
    scim.get("/Users", headers=OKTA)
    flush(app)
    with engine.connect() as conn:
        profile = idp_profile.profile(conn, scim.account_id)
    (habit,) = profile.habits
    assert habit.code == "agent_okta" and habit.count == 4
    assert habit.first_seen <= habit.last_seen


@pytest.fixture
def small_page_settings(settings):
    settings.group_member_page = 3
    return settings


def test_a_large_group_is_not_read_to_answer_an_unknown_client(small_page_settings, scim):
    users = [
        scim.post("/Users", json=user_body(f"u{i}@example.com")).json()["id"] for i in range(4)
    ]
    gid = scim.post("/Groups", json={"displayName": "Big"}).json()["id"]
    add = ops({"op": "add", "path": "members", "value": [{"value": u} for u in users[:2]]})
    r = scim.patch(f"/Groups/{gid}", json=add)
    assert r.status_code == 200 and len(r.json()["members"]) == 2
    add = ops({"op": "add", "path": "members", "value": [{"value": u} for u in users[2:]]})
    r = scim.patch(f"/Groups/{gid}", json=add)
    assert r.status_code == 204 and r.headers["etag"], "3 members or more: 204, not read whole"
    r = scim.patch(
        f"/Groups/{gid}?excludedAttributes=members",
        json=ops({"op": "replace", "path": "displayName", "value": "Bigger"}),
    )
    assert (
        r.status_code == 200 and r.json()["displayName"] == "Bigger" and "members" not in r.json()
    )


def test_counting_never_fails_a_request(scim, monkeypatch):
    from scimgate.web import scim_endpoint

    def broken(*args: Any) -> tuple[str, ...]:
        raise RecursionError("a body the reading trips on")

    monkeypatch.setattr(scim_endpoint, "habits_of", broken)
    assert scim.get("/Users", headers=OKTA).status_code == 200


def test_counts_of_a_deleted_account_are_left_out(scim, engine):
    from scimgate.provisioning import idp_profile

    at = datetime(2026, 12, 7, tzinfo=UTC)
    row = {"habit": "agent_okta", "count": 1, "first_seen": at, "last_seen": at, "sample": None}
    idp_profile.add_counts(
        engine, [{**row, "account_id": 987654}, {**row, "account_id": scim.account_id}]
    )
    with engine.connect() as conn:
        assert [h.code for h in idp_profile.profile(conn, scim.account_id).habits] == ["agent_okta"]
        assert idp_profile.profile(conn, 987654).habits == []

"""PATCH on stored documents (RFC 7644 §3.5.2), including Entra's documented habits."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scimgate.scim.errors import ScimError
from scimgate.scim.member_ops import MemberOp
from scimgate.scim.patch import apply_patch
from scimgate.scim.schema import group_schema, user_schema

ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
DOC = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "bjensen",
    "active": True,
    "emails": [{"type": "work", "value": "b@x.com", "primary": True}],
    "name": {"givenName": "Barbara", "familyName": "Jensen"},
}


def patch(ops, doc=DOC, schema=None):
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}
    return apply_patch(doc, body, schema or user_schema())


def test_replace_single_attribute():
    """ "The 'replace' operation replaces the value at the target location specified by the 'path'." """
    out = patch([{"op": "replace", "path": "displayName", "value": "Babs"}])
    assert out.changed and out.doc["displayName"] == "Babs"
    assert DOC.get("displayName") is None, "the input document is never mutated"


@pytest.mark.parametrize("op", ["Replace", "replace", "REPLACE", "Add", "add"])
@pytest.mark.parametrize("value", [False, "False", "false", "FALSE"])
def test_entra_disable_variants(op, value):
    """entra-provisioning.md §1.7: every documented disable form gives active false."""
    out = patch([{"op": op, "path": "active", "value": value}])
    assert out.doc["active"] is False


def test_value_path_replace_creates_missing_element():
    """§6.3: add or replace on emails[type eq "work"].value creates the element when absent."""
    doc = {**DOC, "emails": []}
    out = patch(
        [{"op": "Replace", "path": 'emails[type eq "work"].value', "value": "new@x.com"}], doc
    )
    assert out.doc["emails"] == [{"type": "work", "value": "new@x.com"}]
    out = patch(
        [{"op": "add", "path": 'addresses[type eq "work"].streetAddress', "value": "1 Main"}]
    )
    assert out.doc["addresses"] == [{"type": "work", "streetAddress": "1 Main"}]


def test_value_path_replace_updates_matching_element_only():
    doc = {**DOC, "emails": [{"type": "work", "value": "w@x"}, {"type": "home", "value": "h@x"}]}
    out = patch([{"op": "replace", "path": 'emails[type eq "work"].value', "value": "w2@x"}], doc)
    assert out.doc["emails"] == [
        {"type": "work", "value": "w2@x"},
        {"type": "home", "value": "h@x"},
    ]


def test_pathless_key_may_be_a_filtered_path():
    out = patch([{"op": "add", "value": {'emails[type eq "home"].value': "h@x"}}])
    assert {"type": "home", "value": "h@x"} in out.doc["emails"]


def test_pathless_replace_with_dotted_and_urn_keys():
    """§1.5 (aadOptscim062020): value keys are `name.givenName` and URN-qualified names."""
    out = patch(
        [
            {
                "op": "replace",
                "value": {
                    "displayName": "Bjfe",
                    "name.givenName": "Kkom",
                    "name.familyName": "Unua",
                    f"{ENT}:employeeNumber": "Aklq",
                },
            }
        ]
    )
    assert out.doc["name"] == {"givenName": "Kkom", "familyName": "Unua"}
    assert out.doc[ENT] == {"employeeNumber": "Aklq"}
    assert ENT in out.doc["schemas"]


@pytest.mark.parametrize(
    "op",
    [
        {"op": "Add", "path": "manager", "value": [{"$ref": "http://x/Users/m1", "value": "m1"}]},
        {"op": "add", "path": f"{ENT}:manager", "value": "m1"},
        {"op": "replace", "path": f"{ENT}:manager", "value": {"value": "m1"}},
        {"op": "replace", "value": {f"{ENT}:manager": "m1"}},
    ],
)
def test_manager_forms_are_stored_as_value_object(op):
    """§6.5: manager as list, object or bare id; always `{"value": id}` in the extension ($ref kept if sent)."""
    out = patch([op])
    manager = out.doc[ENT]["manager"]
    assert manager["value"] == "m1"
    assert set(manager) <= {"value", "$ref"}
    if isinstance(op["value"], list):
        assert manager["$ref"] == "http://x/Users/m1"


def test_whole_extension_path():
    """A path naming the extension URN itself addresses the whole extension object."""
    out = patch(
        [
            {
                "op": "add",
                "path": ENT,
                "value": {"schemas": [ENT], "employeeNumber": "42", "manager": {"value": "m"}},
            }
        ]
    )
    assert out.doc[ENT] == {"employeeNumber": "42", "manager": {"value": "m"}}
    doc = {**DOC, ENT: {"department": "D"}}
    out = patch([{"op": "replace", "path": ENT, "value": {"department": "E"}}], doc)
    assert out.doc[ENT] == {"department": "E"}
    out = patch([{"op": "remove", "path": ENT}], doc)
    assert ENT not in out.doc and ENT not in out.doc["schemas"]


def test_remove_manager_and_empty_manager():
    doc = {**DOC, ENT: {"manager": {"value": "m1"}, "department": "D"}}
    assert "manager" not in patch([{"op": "remove", "path": f"{ENT}:manager"}], doc).doc[ENT]
    assert (
        "manager"
        not in patch([{"op": "replace", "path": f"{ENT}:manager", "value": ""}], doc).doc[ENT]
    )


def test_add_to_multivalued_appends_and_moves_primary():
    """§3.5.2.1: add appends values; a new primary clears the old one."""
    out = patch(
        [
            {
                "op": "add",
                "path": "emails",
                "value": [{"type": "home", "value": "h@x", "primary": True}],
            }
        ]
    )
    assert out.doc["emails"] == [
        {"type": "work", "value": "b@x.com", "primary": False},
        {"type": "home", "value": "h@x", "primary": True},
    ]


def test_remove_with_value_filter():
    out = patch([{"op": "remove", "path": 'emails[type eq "work"]'}])
    assert "emails" not in out.doc


def test_remove_without_path_is_no_target():
    """§3.5.2.2: "If 'path' is unspecified, the operation fails with ... noTarget"."""
    with pytest.raises(ScimError) as info:
        patch([{"op": "remove"}])
    assert info.value.scim_type == "noTarget"


def test_remove_required_attribute_is_refused():
    with pytest.raises(ScimError) as info:
        patch([{"op": "remove", "path": "userName"}])
    assert info.value.status == 400


def test_null_and_empty_replace_clear_the_attribute():
    """Entra gallery check SCIM_Null_Update: PATCH with "" then null leaves the attribute empty."""
    doc = {**DOC, "title": "Boss"}
    assert "title" not in patch([{"op": "replace", "path": "title", "value": ""}], doc).doc
    assert "title" not in patch([{"op": "replace", "path": "title", "value": None}], doc).doc


def test_no_op_patch_reports_unchanged():
    """A PATCH that changes nothing must not bump version or lastModified."""
    out = patch(
        [
            {"op": "replace", "path": "userName", "value": "bjensen"},
            {"op": "Replace", "path": "active", "value": "True"},
        ]
    )
    assert out.changed is False


def test_unknown_and_read_only_attributes_are_ignored_and_reported():
    out = patch([{"op": "replace", "value": {"bogusAttr": 1, "meta": {}}}])
    assert not out.changed
    assert set(out.ignored) >= {"bogusAttr", "meta"}


def test_custom_extension_attribute_is_kept():
    urn = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
    out = patch([{"op": "add", "path": f"{urn}:CustomAttribute", "value": "v"}])
    assert out.doc[urn] == {"CustomAttribute": "v"}
    assert urn in out.doc["schemas"]


def test_group_member_operations_become_member_ops():
    """§1.9: members never enter the document; each op becomes a row change."""
    doc = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "g"}
    out = patch(
        [
            {
                "op": "Add",
                "path": "members",
                "value": [{"$ref": None, "value": "u1"}, {"value": "u2"}],
            },
            {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": "u1"}]},
            {"op": "remove", "path": 'members[value eq "u3"]'},
            {"op": "replace", "path": "members", "value": [{"value": "u9"}]},
            {"op": "remove", "path": "members"},
        ],
        doc,
        group_schema(),
    )
    assert not out.changed
    assert out.member_ops == [
        MemberOp("add", members=({"value": "u1", "type": None}, {"value": "u2", "type": None})),
        MemberOp("remove", ids=("u1",)),
        MemberOp("remove", ids=("u3",)),
        MemberOp("replace", members=({"value": "u9", "type": None},)),
        MemberOp("remove", all=True),
    ]


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"Operations": []},
        {"Operations": "x"},
        {"schemas": ["urn:wrong"], "Operations": [{"op": "add", "path": "title", "value": "x"}]},
        {"Operations": [{"op": "move", "path": "title"}]},
        {"Operations": [{"op": "add", "path": 5, "value": "x"}]},
        {"Operations": [{"op": "add", "path": "emails[type eq", "value": "x"}]},
        {"Operations": [{"op": "add", "path": "title", "value": {"a": 1}}]},
        {"Operations": [{"op": "add", "path": "active", "value": "maybe"}]},
        {"Operations": [{"op": "add", "value": "not an object"}]},
    ],
)
def test_bad_bodies_are_400(body):
    with pytest.raises(ScimError) as info:
        apply_patch(DOC, body, user_schema())
    assert info.value.status == 400


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
_paths = st.sampled_from(
    [
        None,
        "title",
        "active",
        "emails",
        'emails[type eq "work"].value',
        "name.givenName",
        "members",
        f"{ENT}:manager",
        f"{ENT}:department",
        'addresses[type eq "work"]',
        "bogus",
        "meta.created",
        "emails[x",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["add", "replace", "remove", "Add", "bad"]), _paths, _json)
def test_random_operations_only_ever_raise_scim_errors(op, path, value):
    operation = {"op": op, "value": value}
    if path is not None:
        operation["path"] = path
    try:
        apply_patch(DOC, {"Operations": [operation]}, user_schema())
    except ScimError as exc:
        assert 400 <= exc.status < 500


def test_pathless_custom_extension_object():
    """Path-less add of an IdP's own extension object lands under that URN, not split at its last colon."""
    urn = "urn:ietf:params:scim:schemas:extension:Acme:2.0:User"
    out = patch([{"op": "add", "value": {urn: {"costCode": "x"}}}])
    assert out.doc[urn] == {"costCode": "x"}
    assert "urn:ietf:params:scim:schemas:extension:Acme:2.0" not in out.doc
    out = patch([{"op": "add", "path": urn, "value": {"costCode": "y"}}])
    assert out.doc[urn] == {"costCode": "y"}
    out = patch([{"op": "replace", "value": {ENT: {"department": "D"}}}])
    assert out.doc[ENT] == {"department": "D"}


# -- read-only attributes (issue 13 item 13): an echo passes, a change is 400 mutability -----

SERVER = {
    "id": "u-1",
    "meta": {
        "resourceType": "User",
        "created": "2026-12-01T10:00:00.000Z",
        "lastModified": "2026-12-02T10:00:00.000Z",
        "location": "/Users/u-1",
        "version": 'W/"3"',
    },
    "groups": [{"value": "g-1", "$ref": "/Groups/g-1", "display": "G", "type": "direct"}],
}


def patch_with_server(ops, doc=DOC):
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}
    return apply_patch(doc, body, user_schema(), server=lambda: SERVER)


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": "id", "value": "u-1"},
        {"op": "replace", "value": {"id": "u-1"}},
        {
            "op": "replace",
            "path": "meta.location",
            "value": "https://scim.example/scim/v2/Users/u-1",
        },
        {"op": "replace", "path": "meta.version", "value": '"3"'},
        {"op": "replace", "path": "meta.created", "value": "2026-12-01T10:00:00Z"},
        {"op": "replace", "path": "meta.created", "value": "2026-12-01T11:00:00+01:00"},
        {"op": "replace", "path": "meta.resourceType", "value": "User"},
        {"op": "add", "path": "groups", "value": [{"value": "g-1"}]},
        {"op": "replace", "path": "groups.value", "value": ["g-1"]},
        {"op": "remove", "path": 'groups[value eq "g-2"]'},
        {"op": "replace", "path": 'groups[value eq "g-1"].display', "value": "G"},
    ],
)
def test_an_echo_of_a_read_only_value_is_accepted_and_reported(operation):
    out = patch_with_server([operation])
    assert not out.changed and out.ignored


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": "ID", "value": "u-2"},
        {"op": "add", "value": {"id": "u-2"}},
        {"op": "replace", "path": "id", "value": ""},
        {"op": "replace", "path": "meta.location", "value": "https://scim.example/Users/u-2"},
        {"op": "replace", "path": "meta.version", "value": 'W/"4"'},
        {"op": "replace", "path": "meta.created", "value": "2026-12-01T10:00:01Z"},
        {"op": "replace", "path": "meta.created", "value": "not a time"},
        {"op": "replace", "path": "meta", "value": {"resourceType": "User", "bogus": 1}},
        {"op": "remove", "path": "meta.version"},
        {"op": "add", "path": "groups", "value": [{"value": "g-2"}]},
        {"op": "remove", "path": "groups"},
        {"op": "replace", "path": 'groups[value eq "g-1"].display', "value": "H"},
        {"op": "add", "path": 'groups[value eq "g-2"]', "value": {"value": "g-2"}},
        {"op": "replace", "path": f"{ENT}:manager.displayName", "value": "Boss"},
    ],
)
def test_a_change_to_a_read_only_value_is_mutability(operation):
    with pytest.raises(ScimError) as caught:
        patch_with_server([operation])
    assert caught.value.status == 400 and caught.value.scim_type == "mutability"


def test_the_server_view_is_read_only_when_an_operation_names_it():
    calls = []

    def server():
        calls.append(1)
        return SERVER

    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "title", "value": "T"}],
    }
    apply_patch(DOC, body, user_schema(), server=server)
    assert calls == []

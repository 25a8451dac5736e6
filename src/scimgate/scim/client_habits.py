"""Which identity provider a SCIM request comes from, and which of its habits it shows.

Pure and cheap (called once per request on the hot path): the User-Agent is matched once
per distinct string, by whole words (a plain substring made "Concentra-Sync" and
"SailPoint Central" Entra), a PATCH body is read only at the top of its operations, a
query string only by substring. Each habit names the identity provider it points to (or none,
when several send it), whether it says something about Entra's `aadOptscim062020` flag,
and what scimgate does about it, for the profile shown to admins.

Sources: docs/idp/*.md and the Entra notes (Microsoft Learn "Known issues and
resolutions with SCIM 2.0 protocol compliance"), Okta's "SCIM 2.0 protocol reference"
(every request carries `User-Agent: Okta SCIM Client 1.0.0`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

ENTRA, OKTA, ONELOGIN, JUMPCLOUD = "entra", "okta", "onelogin", "jumpcloud"

IDP_NAMES = {
    ENTRA: "Microsoft Entra ID",
    OKTA: "Okta",
    ONELOGIN: "OneLogin",
    JUMPCLOUD: "JumpCloud",
}

WITH_FLAG, WITHOUT_FLAG = "with", "without"  # Entra's aadOptscim062020 feature flag


@dataclass(frozen=True, slots=True)
class Habit:
    """One recognisable trait of a client's requests."""

    code: str
    label: str  # what the client does, for admins
    handling: str  # what scimgate does about it
    idp: str | None = None  # the identity provider it points to; None when several send it
    weight: int = 1  # 10: the client names itself; 3: only that IdP sends it; 1: a hint
    entra_flag: str | None = None  # WITH_FLAG / WITHOUT_FLAG when it tells the flag apart


def _h(*args: Any, **kwargs: Any) -> tuple[str, Habit]:
    habit = Habit(*args, **kwargs)
    return habit.code, habit


HABITS: dict[str, Habit] = dict(
    [
        _h(
            "agent_entra",
            "User-Agent names Microsoft Entra ID (Azure AD)",
            "Group PATCH answered 204 No Content, as Entra recommends",
            ENTRA,
            10,
        ),
        _h(
            "agent_okta",
            "User-Agent is Okta SCIM Client",
            "Group PATCH answered 200 with the group without its members, as Okta documents",
            OKTA,
            10,
        ),
        _h(
            "agent_onelogin",
            "User-Agent names OneLogin",
            "PATCH answered 200 with the resource (RFC 7644 §3.5.2)",
            ONELOGIN,
            10,
        ),
        _h(
            "agent_jumpcloud",
            "User-Agent names JumpCloud",
            "PATCH answered 200 with the resource (RFC 7644 §3.5.2)",
            JUMPCLOUD,
            10,
        ),
        _h(
            "entra_flag_in_url",
            "aadOptscim062020 in the Tenant URL's query string",
            "ignored, as every unknown query parameter",
            ENTRA,
            3,
            WITH_FLAG,
        ),
        _h(
            "capitalised_ops",
            'Capitalised PATCH ops ("Replace", "Add", "Remove")',
            "op matched in any case",
            ENTRA,
            3,
            WITHOUT_FLAG,
        ),
        _h(
            "string_booleans",
            'Booleans sent as strings ("False", "True")',
            "read as booleans in any case",
            ENTRA,
            3,
            WITHOUT_FLAG,
        ),
        _h(
            "remove_members_by_value",
            'Members removed with path "members" and a value list',
            "removes exactly the listed members, whatever the group's size",
            ENTRA,
            3,
            WITHOUT_FLAG,
        ),
        _h(
            "dotted_pathless_keys",
            'Path-less PATCH with dotted or URN-qualified keys ("name.givenName")',
            "each key applied as the path it names",
            ENTRA,
            3,
            WITH_FLAG,
        ),
        _h(
            "entra_lowercase_ops",
            "Lowercase PATCH ops from Entra",
            "op matched in any case",
            ENTRA,
            1,
            WITH_FLAG,
        ),
        _h(
            "remove_members_by_filter",
            'Members removed by filter: members[value eq "…"]',
            "removes the named members, whatever the group's size",
        ),
        # A hint only: excludedAttributes is RFC 7644 §3.4.2.5, any client may send it. As an
        # Entra-only habit, one such read from a script made the account Entra.
        _h(
            "groups_without_members",
            "Groups read with excludedAttributes=members",
            "answered without reading any member",
            ENTRA,
            1,
        ),
        _h(
            "paged_user_lookups",
            "userName lookups paged with startIndex=1&count=100",
            "answered from the userName index",
            OKTA,
            1,
        ),
        _h(
            "put_user_updates",
            "Users updated with a full PUT",
            "replaces the user; read-only echoes (id, meta, groups, password) are ignored",
            OKTA,
            1,
        ),
        _h(
            "pathless_active_patch",
            'Deactivation as a path-less PATCH {"active": false}',
            "applied as active = false",
            OKTA,
            1,
        ),
    ]
)

# User-Agent words (lower case) that name a client, first match wins. Whole words only, with
# no letter or digit on either side: "Concentra-Sync" is not Entra, "Entra_Sync" is.
_AGENT_WORDS = (
    ("okta scim client", OKTA),  # what Okta sends on every request ("Okta SCIM Client 1.0.0")
    ("okta", OKTA),
    ("azure ad", ENTRA),  # "Microsoft Azure AD SCIM provisioning"
    ("azuread", ENTRA),
    ("azure active directory", ENTRA),
    ("microsoft.azure", ENTRA),
    ("microsoft azure", ENTRA),
    ("microsoft entra", ENTRA),
    ("entra", ENTRA),
    ("onelogin", ONELOGIN),
    ("jumpcloud", JUMPCLOUD),
)
_AGENTS = tuple(
    (re.compile(rf"(?<![a-z0-9]){re.escape(words)}(?![a-z0-9])"), idp)
    for words, idp in _AGENT_WORDS
)
_AGENT_HABIT = {ENTRA: "agent_entra", OKTA: "agent_okta", ONELOGIN: "agent_onelogin"}
_AGENT_HABIT[JUMPCLOUD] = "agent_jumpcloud"
_AGENT_CACHE: dict[str, str | None] = {}
_AGENT_CACHE_SIZE = 1024
_CAPITALISED = {"Add", "Replace", "Remove"}
_BOOLEAN_STRINGS = {"true", "false"}


def client_of_agent(user_agent: str | None) -> str | None:
    """The identity provider a User-Agent names, or None (remembered per distinct string)."""
    if not user_agent:
        return None
    try:
        return _AGENT_CACHE[user_agent]
    except KeyError:
        pass
    lowered = user_agent.lower()
    found = next((idp for words, idp in _AGENTS if words.search(lowered)), None)
    if len(_AGENT_CACHE) >= _AGENT_CACHE_SIZE:
        _AGENT_CACHE.clear()  # a stream of random agents must not grow it without end
    _AGENT_CACHE[user_agent] = found
    return found


def habits_of(
    method: str, path: str, query: str, user_agent: str | None, body: Any
) -> tuple[str, ...]:
    """The habits one request shows (`path` and `query` as sent)."""
    found: list[str] = []
    agent = client_of_agent(user_agent)
    if agent is not None:
        found.append(_AGENT_HABIT[agent])
    if query and "aadoptscim062020" in query.lower():
        found.append("entra_flag_in_url")
    lowered = path.lower()
    if method == "GET":
        _read_habits(lowered, query, found)
    elif method == "PATCH" and isinstance(body, dict):
        _patch_habits(body, agent, found)
    elif method == "PUT" and "/users/" in lowered:
        found.append("put_user_updates")
    elif method == "POST" and isinstance(body, dict) and _string_boolean(body.get("active")):
        found.append("string_booleans")
    return tuple(found)


def request_client(user_agent: str | None, query: str, body: Any) -> str | None:
    """The identity provider this request alone shows: its User-Agent, else Entra's flag in
    the query string or an Entra-only PATCH habit (capitalised ops). Cheap for every PATCH."""
    agent = client_of_agent(user_agent)
    if agent is not None:
        return agent
    if query and "aadoptscim062020" in query.lower():
        return ENTRA
    operations = _operations(body)
    if any(isinstance(op, dict) and _op_name(op) in _CAPITALISED for op in operations):
        return ENTRA
    return None


def _read_habits(path: str, query: str, found: list[str]) -> None:
    """A GET's habits, from its query string alone."""
    if not query:
        return
    lowered = query.lower()
    if "/groups" in path and "excludedattributes=members" in lowered:
        found.append("groups_without_members")
    elif (
        "/users" in path
        and "username" in lowered
        and "startindex=1" in lowered
        and "count=100" in lowered
    ):
        found.append("paged_user_lookups")


def _operations(body: Any) -> list[Any]:
    """A PatchOp body's operations as sent (any key case), or none."""
    if not isinstance(body, dict):
        return []
    operations = body.get("Operations")
    if operations is None:
        operations = next((v for k, v in body.items() if str(k).lower() == "operations"), None)
    return operations if isinstance(operations, list) else []


def _op_name(op: dict[str, Any]) -> Any:
    return op.get("op", op.get("Op"))


def _patch_habits(body: dict[str, Any], agent: str | None, found: list[str]) -> None:
    """A PATCH's habits, from the top of each operation."""
    seen: set[str] = set()
    for op in _operations(body)[:50]:  # habits show in the first ones; a huge body is bounded
        if isinstance(op, dict):
            _operation_habits(op, agent, seen)
    found.extend(code for code in HABITS if code in seen)


def _operation_habits(op: dict[str, Any], agent: str | None, seen: set[str]) -> None:
    name = _op_name(op)
    if not isinstance(name, str):
        return
    if name in _CAPITALISED:
        seen.add("capitalised_ops")
    elif agent == ENTRA and name.islower():
        seen.add("entra_lowercase_ops")
    path = op.get("path")
    value = op.get("value")
    lowered = name.lower()
    if isinstance(path, str) and path.strip():
        _path_habits(lowered, path.strip(), value, seen)
    elif isinstance(value, dict):
        if any(isinstance(k, str) and ("." in k or k.startswith("urn:")) for k in value):
            seen.add("dotted_pathless_keys")
        if "active" in value and value["active"] in (False, "False", "false"):
            seen.add("pathless_active_patch")
        if _string_boolean(value.get("active")):
            seen.add("string_booleans")


def _path_habits(op: str, path: str, value: Any, seen: set[str]) -> None:
    lowered = path.lower()
    if lowered == "members" and op == "remove" and value not in (None, [], {}):
        seen.add("remove_members_by_value")
    elif lowered.startswith("members[") and op == "remove":
        seen.add("remove_members_by_filter")
    elif lowered.endswith("active") and _string_boolean(value):
        seen.add("string_booleans")


def _string_boolean(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() in _BOOLEAN_STRINGS

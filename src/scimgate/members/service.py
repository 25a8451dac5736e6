"""Members, Properties and teams as the host product and its admins see them.

Manual members (added by the CLI or the API) live beside provisioned ones; Synchronize
links a manual member to a staged user with the same email instead of duplicating it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from scimgate import audit
from scimgate.audit.actions import AuditAction
from scimgate.errors import ConflictError, InvalidValueError, NotFoundError
from scimgate.events import member_created, member_updated
from scimgate.group_rules import service as group_rules
from scimgate.mapping import types
from scimgate.members import properties, scim_attributes
from scimgate.states import MemberSource, MemberStatus, ValueSource
from scimgate.store import events
from scimgate.store import members as store
from scimgate.store import property_values as value_store
from scimgate.store import teams as team_store
from scimgate.store.database import utcnow


def add_member(conn: Connection, account_id: int, email: str, *, name: str = "") -> dict[str, Any]:
    """A manual member; the email must be a valid address not used by another member."""
    try:
        email = types.to_email(email)
        name = types.to_text(name) if name else ""
    except ValueError as exc:
        raise InvalidValueError(str(exc)) from None
    now = utcnow()
    name = name or email.split("@")[0]
    member_id = store.insert_member(
        conn, account_id, email=email, name=name, source=MemberSource.MANUAL, now=now
    )
    events.append(
        conn,
        account_id,
        [member_created(member_id, email=email, name=name)],
        now,
    )
    return {"id": member_id, "email": email, "name": name}


_STATUSES = frozenset(MemberStatus)
_SOURCES = frozenset(MemberSource)


def check_filters(status: str | None, source: str | None) -> None:
    """Refuse a status or source filter that names none (a listing's query parameters).

    Raises:
        InvalidValueError: the status or the source is not a MemberStatus or MemberSource.
    """
    if status is not None and status not in _STATUSES:
        raise InvalidValueError("status is active or deactivated")
    if source is not None and source not in _SOURCES:
        raise InvalidValueError("source is scim or manual")


def member_documents(
    conn: Connection,
    account_id: int,
    *,
    status: str | None = None,
    source: str | None = None,
    search: str | None = None,
    after: str | None = None,
    limit: int | None = None,
    member_id: str | None = None,
) -> list[dict[str, Any]]:
    """Members with their Property values by Property name (references shown by email)."""
    check_filters(status, source)
    rows = store.list_members(
        conn,
        account_id,
        status=status,
        source=source,
        search=search,
        after=after,
        limit=limit,
        member_id=member_id,
    )
    return documents_of(conn, account_id, rows)


def documents_of(
    conn: Connection, account_id: int, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Member rows as documents: Property values by Property name, references by email."""
    props = {p["id"]: p for p in store.list_properties(conn, account_id)}
    values = value_store.values_of(conn, account_id, [r["id"] for r in rows])
    refs = [
        v
        for vals in values.values()
        for pid, (v, _s) in vals.items()
        if props.get(pid, {}).get("type") == "member"
    ]
    labels = store.member_labels(conn, account_id, refs) if refs else {}
    out = []
    for row in rows:
        properties: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for pid, (value, origin) in sorted(
            values[row["id"]].items(), key=lambda kv: props.get(kv[0], {}).get("name", "")
        ):
            prop = props.get(pid)
            if prop is None:
                continue
            properties[prop["name"]] = (
                labels.get(value, value) if prop["type"] == "member" else value
            )
            sources[prop["name"]] = origin
        out.append(
            {
                "id": row["id"],
                "email": row["email"],
                "name": row["name"],
                "status": row["status"],
                "source": row["source"],
                "directory_user_id": row["directory_user_id"],
                "properties": properties,
                "property_sources": sources,
                "created_at": row["created_at"],
                "updated_at": row["updated_at"],
            }
        )
    return out


def create_property(
    conn: Connection,
    account_id: int,
    name: str,
    kind: str,
    options: list[str] | None = None,
    *,
    actor: str | None = None,
) -> dict[str, Any]:
    """A typed member field; select Properties need options (`actor`: who the audit log
    names, see scimgate.audit)."""
    name = properties.check_name(name)
    if kind not in types.TYPES:
        raise InvalidValueError(
            f"Unknown Property type {kind!r}: use one of {', '.join(types.TYPES)}"
        )
    try:
        cleaned = types.check_options(kind, list(options or []))
    except ValueError as exc:
        raise InvalidValueError(str(exc)) from None
    prop_id = store.insert_property(
        conn, account_id, name=name, kind=kind, options=cleaned, now=utcnow()
    )
    scim_name = scim_attributes.name_new_property(conn, account_id, prop_id, name)
    store.bump_mapping_rev(conn, account_id)  # the extension and its implicit mapping grew
    audit.record(
        conn,
        account_id,
        actor=actor,
        action=AuditAction.PROPERTY_CREATED,
        target=f"Property {name}",
        details={"property_id": prop_id, "type": kind, "options": cleaned},
    )
    created = {"id": prop_id, "name": name, "type": kind, "options": cleaned}
    return {**created, "scim_path": scim_attributes.path_of({**created, "scim_name": scim_name})}


def list_properties(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    """Every Property, with the SCIM path mapped onto it (if any)."""
    mapped = dict(store.list_mappings(conn, account_id))
    paths = scim_attributes.paths(conn, account_id)
    return [
        {**p, "mapped_from": mapped.get(f"property:{p['id']}"), "scim_path": paths.get(p["id"])}
        for p in store.list_properties(conn, account_id)
    ]


def count_members(conn: Connection, account_id: int, **where: str) -> int:
    """How many members have these column values (status, source)."""
    return store.count_members(conn, account_id, **where)


def list_teams(conn: Connection, account_id: int) -> list[dict[str, Any]]:
    """Teams with their members' emails."""
    return team_store.list_teams(conn, account_id)


def member_detail(conn: Connection, account_id: int, member_id: str) -> dict[str, Any]:
    """One member: every field and Property, where each value came from, and its teams."""
    found = member_documents(conn, account_id, member_id=member_id)
    if not found:
        raise NotFoundError(f"No member {member_id!r}")
    doc = found[0]
    written = store.list_mappings(conn, account_id)
    mapped = dict(written)
    # What Synchronize reads each target from: a hand-written source (with the extension
    # attribute as its fallback) or, implicitly, the extension attribute alone.
    entries = {e.target: e for e in scim_attributes.mapping_entries(conn, account_id, written)}
    props = store.list_properties(conn, account_id)
    ruled = {
        p["id"]: doc["properties"].get(p["name"])
        for p in props
        if doc["property_sources"].get(p["name"]) == ValueSource.GROUP
    }
    groups = group_rules.member_origins(conn, account_id, doc["directory_user_id"], ruled)
    rows = []
    for prop in props:
        name = prop["name"]
        origin = doc["property_sources"].get(name)
        entry = entries.get(f"property:{prop['id']}")
        rows.append(
            {
                "name": name,
                "type": prop["type"],
                "value": doc["properties"].get(name),
                "origin": origin,
                "scim_path": entry.alternatives if entry and origin == MemberSource.SCIM else None,
                "group": groups.get(prop["id"]),  # the rule's group, for a value a rule set
            }
        )
    doc["property_rows"] = rows
    scim = doc["source"] == MemberSource.SCIM
    doc["field_paths"] = {f: mapped.get(f) if scim else None for f in ("name", "email")}
    doc["teams"] = team_store.teams_of_member(conn, account_id, member_id)
    return doc


def get_member(conn: Connection, account_id: int, member_id: str) -> dict[str, Any]:
    """One member as the API shows it, or NotFoundError."""
    found = member_documents(conn, account_id, member_id=member_id[:64])
    if not found:
        raise NotFoundError(f"No member {member_id!r}")
    return found[0]


def update_member(
    conn: Connection,
    account_id: int,
    member_id: str,
    *,
    name: str | None = None,
    email: str | None = None,
    properties: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Change a member by hand: name and email of manual members, and manual Property values.

    Values that come from SCIM (a provisioned member's name and email, a Property mapped
    from a SCIM attribute) are refused: the next Synchronize would overwrite them.
    """
    current = get_member(conn, account_id, member_id)
    fields: dict[str, Any] = {}
    if name is not None or email is not None:
        if current["source"] == MemberSource.SCIM:
            raise ConflictError(
                "This member is provisioned: its name and email come from the identity provider",
                "source",
            )
        try:
            if name is not None:
                fields["name"] = types.to_text(name) or current["email"].split("@")[0]
            if email is not None:
                fields["email"] = types.to_email(email)
        except ValueError as exc:
            raise InvalidValueError(str(exc)) from None
    now = utcnow()
    if properties:
        set_manual_values(conn, account_id, current, properties, now=now)
    if fields or properties:
        store.update_member(conn, account_id, current["id"], updated_at=now, **fields)
    after = get_member(conn, account_id, current["id"])
    changes = _changes(current, after)
    if changes:
        events.append(
            conn,
            account_id,
            [member_updated(after["id"], email=after["email"], changes=changes)],
            now,
        )
    return after


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """Field and Property changes between two views of a member: {name: [old, new]}."""
    out: dict[str, list[Any]] = {}
    for key in ("name", "email"):
        if before[key] != after[key]:
            out[key] = [before[key], after[key]]
    for name in sorted(set(before["properties"]) | set(after["properties"])):
        old, new = before["properties"].get(name), after["properties"].get(name)
        if old != new:
            out[name] = [old, new]
    return out


def set_manual_values(
    conn: Connection,
    account_id: int,
    current: dict[str, Any],
    values: dict[str, Any],
    *,
    now: Any,
) -> None:
    """Set (None clears) Property values by Property name, coerced to each Property's type."""
    props = {p["name"].lower(): p for p in store.list_properties(conn, account_id)}
    mapped = dict(store.list_mappings(conn, account_id))
    for name, value in values.items():
        prop = props.get(str(name).strip().lower())
        if prop is None:
            raise InvalidValueError(f"No Property named {name!r}")
        if current["property_sources"].get(prop["name"]) == ValueSource.GROUP:
            raise ConflictError(
                f"{prop['name']!r} comes from a group rule for this member: change the "
                "group's members in the identity provider, or the rule",
                prop["name"],
            )
        source = mapped.get(f"property:{prop['id']}")
        if current["source"] == MemberSource.SCIM and source:
            raise ConflictError(
                f"{prop['name']!r} comes from SCIM ({source}) for this provisioned member: change "
                "it in the identity provider, or remove the mapping",
                prop["name"],
            )
        value_store.set_value(
            conn,
            account_id,
            current["id"],
            prop["id"],
            _manual_value(conn, account_id, prop, value),
            source=MemberSource.MANUAL,
            now=now,
        )


def _manual_value(conn: Connection, account_id: int, prop: dict[str, Any], value: Any) -> Any:
    """A value an admin typed, coerced to the Property's type (a member reference: its id).

    Raises:
        InvalidValueError: the value does not fit the Property.
    """
    if value is None:
        return None
    try:
        if prop["type"] == "member":
            return _member_reference(conn, account_id, value)
        return types.converter(prop["type"], list(prop["options"] or []))(value)
    except ValueError as exc:
        raise InvalidValueError(f"{prop['name']}: {exc}") from None


def _member_reference(conn: Connection, account_id: int, value: Any) -> str:
    """A manual member reference: the id or email of a member of this account."""
    text = types.to_text(value)
    found = store.find_member_id(conn, account_id, text) if text else None
    if found is None:
        raise ValueError(f"no member with id or email {text!r}")
    return found


def create_member(
    conn: Connection,
    account_id: int,
    email: str,
    *,
    name: str = "",
    properties: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A manual member with optional Property values, in one transaction."""
    created = add_member(conn, account_id, email, name=name)
    if properties:
        update_member(conn, account_id, created["id"], properties=properties)
    return get_member(conn, account_id, created["id"])

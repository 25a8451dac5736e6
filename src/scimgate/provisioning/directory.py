"""The staging directory's use-cases. Callers own the transaction; these functions never commit.

Each takes the connection and the account id first. Writes are optimistic: an update
applies only if the version it read is still current, and is retried on a race, so two
concurrent PATCHes never lose each other's changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from scimgate.errors import ConflictError, NotFoundError, PreconditionFailedError
from scimgate.members import scim_attributes
from scimgate.scim.account_extension import body_mentions, filter_mentions
from scimgate.scim.filter import FilterNode
from scimgate.scim.member_ops import MemberOp
from scimgate.scim.patch import apply_patch
from scimgate.scim.render import etag, server_attributes
from scimgate.scim.resource import check_put_id, normalise
from scimgate.scim.resource_types import ResourceKind
from scimgate.scim.schema import ResourceSchema, schema_for
from scimgate.store import directory as store
from scimgate.store import list_pages, memberships
from scimgate.store.accounts import TokenGuard
from scimgate.store.filter_sql import compile_filter
from scimgate.store.lookups import compile_lookup
from scimgate.store.sort_sql import sort_expression

_RETRIES = 5


@dataclass
class Written:
    """The row after a write, what the request carried that was not kept, and whether it changed."""

    row: dict[str, Any]
    ignored: list[str] = field(default_factory=list)
    changed: bool = True


def _schema(conn: Connection, account_id: int, kind: str, body: Any) -> ResourceSchema:
    """The resource's schema; a User body naming the account extension gets the account's
    (read only then: most requests never name it and pay nothing for it)."""
    if kind == ResourceKind.USER and body_mentions(body):
        return scim_attributes.account_extension(conn, account_id).schema
    return schema_for(kind)


def _not_found(kind: str, resource_id: str) -> NotFoundError:
    return NotFoundError(f"{kind} {resource_id!r} not found")


def get(
    conn: Connection,
    account_id: int,
    kind: str,
    resource_id: str,
    *,
    with_groups: bool = False,
    guard: TokenGuard | None = None,
) -> dict[str, Any]:
    """One resource of this account (a User with its groups when asked), or NotFoundError;
    a guard's token check rides in the read (a refused token finds nothing)."""
    if "\x00" in resource_id:
        # No id holds NUL (PostgreSQL text cannot): it names nothing, on either database.
        raise _not_found(kind, resource_id)
    row = store.get_resource(
        conn, account_id, kind, resource_id, with_groups=with_groups, guard=guard
    )
    if row is None:
        raise _not_found(kind, resource_id)
    return row


def search(
    conn: Connection,
    account_id: int,
    kind: str,
    ast: FilterNode | None,
    *,
    sort_by: str | None,
    descending: bool,
    offset: int,
    limit: int,
    with_groups: bool,
    guard: TokenGuard | None,
    unknown_is_false: bool,
) -> tuple[int, list[dict[str, Any]]]:
    """One page of a list or filter and its total: the lookups IdPs make (and a plain list)
    by pre-written SQL, anything else by the general filter compiler."""
    postgres = conn.dialect.name == "postgresql"
    if not sort_by:
        fast = (
            (None, [])
            if ast is None
            else compile_lookup(ast, kind, account_id=account_id, postgres=postgres)
        )
        if fast is not None:
            return list_pages.lookup_resources(
                conn,
                account_id,
                kind,
                where=fast[0],
                params=fast[1],
                offset=offset,
                limit=limit,
                with_groups=with_groups,
                guard=guard,
            )
    schema = schema_for(kind)
    if kind == ResourceKind.USER and filter_mentions(ast):
        schema = scim_attributes.account_extension(conn, account_id).schema
    where = None
    if ast is not None:
        where = compile_filter(
            ast, schema, conn.dialect.name, account_id=account_id, unknown_is_false=unknown_is_false
        )
    order = "descending" if descending else "ascending"
    order_by = [sort_expression(schema, sort_by, order)] if sort_by else []
    return list_pages.query_resources(
        conn, account_id, kind, where=where, order_by=order_by, offset=offset, limit=limit
    )


def members_of(
    conn: Connection, account_id: int, group_ids: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """Members of these groups with their display names, for rendering them."""
    return memberships.members_of(conn, account_id, group_ids)


def groups_of(
    conn: Connection, account_id: int, user_ids: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """Groups these users are direct members of (the read-only `groups` attribute)."""
    return memberships.groups_of(conn, account_id, user_ids)


def member_page(
    conn: Connection, account_id: int, group_id: str, *, after: str | None, limit: int
) -> list[dict[str, Any]]:
    """One page of a group's members in member-id order (a large group is read page by page)."""
    return memberships.member_page(conn, account_id, group_id, after=after, limit=limit)


def check_version(row: dict[str, Any], if_match: str | None) -> None:
    """If-Match (RFC 7644 §3.14): a stale version is a PreconditionFailedError."""
    if if_match is None or if_match.strip() == "*":
        return
    wanted = {tag.strip() for tag in if_match.split(",")}
    current = etag(row["version"])
    if current not in wanted and current.removeprefix("W/") not in wanted:
        raise PreconditionFailedError(f"Version {current} is current, not {if_match}")


def create(conn: Connection, account_id: int, kind: str, body: Any, *, now: datetime) -> Written:
    """Validate a POST body and insert it (and a group's members as rows)."""
    normalised = normalise(body, _schema(conn, account_id, kind, body))
    row = store.insert_resource(conn, account_id, kind, doc=normalised.doc, now=now)
    ignored = normalised.ignored
    if kind == ResourceKind.GROUP and normalised.members:
        added = memberships.add_members(conn, account_id, row["id"], normalised.members)
        ignored = ignored + _unknown_members(added.unknown)
    return Written(row=row, ignored=ignored)


_UNKNOWN_SHOWN = 20  # ids of unknown members named in the request log; the rest counted


def _unknown_members(ids: Sequence[str]) -> list[str]:
    """The request log's `ignored` entries for member ids that name nothing in the account."""
    shown = [f"members: no User or Group {i!r} in this account" for i in ids[:_UNKNOWN_SHOWN]]
    if len(ids) > _UNKNOWN_SHOWN:
        shown.append(f"members: {len(ids) - _UNKNOWN_SHOWN} more unknown ids")
    return shown


def replace(
    conn: Connection,
    account_id: int,
    kind: str,
    resource_id: str,
    body: Any,
    *,
    now: datetime,
    if_match: str | None,
    guard: TokenGuard | None = None,
) -> Written:
    """PUT: the body becomes the resource; a group's members are replaced only if `members` is sent."""
    check_put_id(body, resource_id)
    normalised = normalise(body, _schema(conn, account_id, kind, body))
    member_ops = (
        []
        if normalised.members is None
        else [MemberOp("replace", members=tuple(normalised.members))]
    )

    def change(_row: dict[str, Any]) -> tuple[dict[str, Any], list[MemberOp], list[str]]:
        return normalised.doc, member_ops, normalised.ignored

    return _write(
        conn, account_id, kind, resource_id, change, now=now, if_match=if_match, guard=guard
    )


def patch(
    conn: Connection,
    account_id: int,
    kind: str,
    resource_id: str,
    body: Any,
    *,
    now: datetime,
    if_match: str | None,
    max_operations: int,
    guard: TokenGuard | None = None,
) -> Written:
    """PATCH: apply operations to the stored document; member operations become row changes."""
    schema = _schema(conn, account_id, kind, body)

    def change(row: dict[str, Any]) -> tuple[dict[str, Any], list[MemberOp], list[str]]:
        outcome = apply_patch(
            row["doc"],
            body,
            schema,
            max_operations=max_operations,
            server=lambda: server_attributes(kind, row),
        )
        return outcome.doc, outcome.member_ops, outcome.ignored

    return _write(
        conn, account_id, kind, resource_id, change, now=now, if_match=if_match, guard=guard
    )


def _write(
    conn: Connection,
    account_id: int,
    kind: str,
    resource_id: str,
    change: Callable[[dict[str, Any]], tuple[dict[str, Any], list[MemberOp], list[str]]],
    *,
    now: datetime,
    if_match: str | None,
    guard: TokenGuard | None,
) -> Written:
    """Read, check If-Match, compute the new document, write it if the version still holds.

    A lost race (another request wrote in between) is retried from a fresh read. Member
    operations are applied as rows; if only they changed, the group's version still moves.
    """
    for _ in range(_RETRIES):
        # A User's groups come with it (the response shows them; a User write never moves them).
        row = get(
            conn, account_id, kind, resource_id, with_groups=kind == ResourceKind.USER, guard=guard
        )
        check_version(row, if_match)
        doc, member_ops, ignored = change(row)
        changed = doc != row["doc"]
        if changed:
            updated = store.update_resource(
                conn,
                account_id,
                kind,
                resource_id,
                doc=doc,
                expected_version=row["version"],
                now=now,
                old_doc=row["doc"],
            )
            if updated is None:
                continue
            row = {**row, **updated}
        moved, unknown = (
            _apply_member_ops(conn, account_id, resource_id, member_ops) if member_ops else (0, [])
        )
        if unknown:
            ignored = ignored + _unknown_members(unknown)
        if moved and not changed:
            store.touch_resource(conn, account_id, kind, resource_id, now=now)
            row = {**row, "version": row["version"] + 1, "updated_at": now}
        return Written(row=row, ignored=ignored, changed=changed or bool(moved))
    raise ConflictError(f"{kind} {resource_id!r} is being changed concurrently; retry")


def _apply_member_ops(
    conn: Connection, account_id: int, group_id: str, ops: Sequence[MemberOp]
) -> tuple[int, list[str]]:
    """Apply member operations in order (cost: the batch size); returns how many rows changed
    and the member ids left out because they name no User or Group of the account."""
    moved = 0
    unknown: dict[str, None] = {}
    for op in ops:
        if op.kind == "add":
            added = memberships.add_members(conn, account_id, group_id, op.members)
            moved += added.count
            unknown.update(dict.fromkeys(added.unknown))
        elif op.kind == "remove":
            moved += memberships.remove_members(
                conn, account_id, group_id, None if op.all else op.ids
            )
        else:
            wanted = {m["value"]: m for m in op.members}
            current = {
                m["value"] for m in memberships.members_of(conn, account_id, [group_id])[group_id]
            }
            doomed = [i for i in current if i not in wanted]
            fresh = [m for i, m in wanted.items() if i not in current]
            moved += memberships.remove_members(conn, account_id, group_id, doomed) if doomed else 0
            if fresh:
                added = memberships.add_members(conn, account_id, group_id, fresh)
                moved += added.count
                unknown.update(dict.fromkeys(added.unknown))
    return moved, list(unknown)


def delete(
    conn: Connection,
    account_id: int,
    kind: str,
    resource_id: str,
    *,
    if_match: str | None,
    guard: TokenGuard | None = None,
) -> None:
    """DELETE: the resource and its memberships; NotFoundError if it is not there."""
    row = get(conn, account_id, kind, resource_id, guard=guard)
    check_version(row, if_match)
    if not store.delete_resource(conn, account_id, kind, resource_id):
        raise _not_found(kind, resource_id)

"""A BulkRequest (RFC 7644 §3.7) read into operations, ordered by their bulkId references.

Pure: no I/O. `read_bulk_request` checks the envelope (a bad envelope fails the whole
request) and reads each operation (a bad operation fails alone, answered in its slot of
the BulkResponse). Keys match in any case, so two keys of one object that differ only in
case are refused: which one counted would otherwise depend on who reads the body (the
rate limit charged one `Operations`, the run used the other). `plan_bulk` orders the operations so that a POST runs before every
operation that names its `bulkId:<id>` (forward references work), and finds circular
references (answered 409 for each operation of the cycle without trying to resolve them,
a deviation from §3.7.1 that docs/scim.md explains). `resolve` puts the
ids the POSTs got in place of their `bulkId:<id>` references.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from scimgate.scim.errors import (
    ConflictError,
    InvalidSyntaxError,
    InvalidValueError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    ScimError,
)
from scimgate.scim.resource_types import RESOURCE_TYPES, ResourceKind, resource_type
from scimgate.scim.text import whole_number

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
METHODS = ("POST", "PUT", "PATCH", "DELETE")
REF_PREFIX = "bulkId:"
MAX_BULK_ID_LENGTH = 256
# A reference inside a larger string: a PATCH path filter, members[value eq "bulkId:g1"].
_QUOTED_REF = re.compile(r'"bulkId:([^"]+)"')
_ENDPOINTS = {t.collection.lower(): t.kind for t in RESOURCE_TYPES.values()}


@dataclass(frozen=True, slots=True)
class BulkOperation:
    """One element of `Operations` as read: what it asks, what it references, what is wrong."""

    index: int
    method: str
    path: str
    bulk_id: str | None = None
    version: str | None = None
    data: Any = None
    kind: ResourceKind | None = None
    resource_id: str | None = None  # from the path; may itself be a `bulkId:<id>` reference
    refs: tuple[str, ...] = ()
    error: ScimError | None = None  # answered for this operation without running it

    @property
    def declares(self) -> str | None:
        """The bulkId this operation gives a new resource (only a POST creates one)."""
        return self.bulk_id if self.method == "POST" else None


@dataclass(frozen=True, slots=True)
class BulkRequest:
    """The operations in request order and the errors the client accepts before a stop."""

    operations: tuple[BulkOperation, ...]
    fail_on_errors: int | None = None

    @property
    def cost(self) -> int:
        """Its charge on the account's rate limit: one request per operation."""
        return len(self.operations)


@dataclass(frozen=True, slots=True)
class BulkPlan:
    """The order to run the operations in, who declares each bulkId, and the cycles."""

    order: tuple[int, ...]
    producer: Mapping[str, int]
    circular: Mapping[int, tuple[str, ...]] = field(default_factory=dict)  # index -> its cycle


def read_bulk_request(
    body: Any, *, max_operations: int, max_data_bytes: int | None = None
) -> BulkRequest:
    """Validate the envelope (schemas, Operations, failOnErrors, unique bulkIds); read each
    operation. `max_data_bytes`: the single request's body limit, for each operation's data."""
    if not isinstance(body, dict):
        raise InvalidSyntaxError("The Bulk body must be a JSON object")
    fields = _fields(body, "The Bulk body")
    schemas = fields.get("schemas")
    if schemas is not None and (
        not isinstance(schemas, list)
        or BULK_REQUEST.lower() not in [str(s).lower() for s in schemas]
    ):
        raise InvalidSyntaxError(f"A Bulk body must declare the schema {BULK_REQUEST}")
    operations = fields.get("operations")
    if not isinstance(operations, list) or not operations:
        raise InvalidSyntaxError("A Bulk body needs a non-empty 'Operations' list")
    if len(operations) > max_operations:
        raise PayloadTooLargeError(
            f"The Bulk request has {len(operations)} operations; maxOperations is"
            f" {max_operations} (/ServiceProviderConfig): send at most {max_operations} per Bulk"
        )
    read = tuple(_read_operation(i, raw, max_data_bytes) for i, raw in enumerate(operations))
    _check_unique_bulk_ids(read)
    return BulkRequest(read, _fail_on_errors(fields.get("failonerrors")))


def _fields(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """An object's values by lower-cased key; keys that differ only in case are ambiguous."""
    fields: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in raw.items():
        name = str(key).lower()
        if name in fields:
            raise InvalidSyntaxError(
                f"{where} has both {spelled[name]!r} and {key!r}: attribute names are"
                " case-insensitive (RFC 7643 §2.1), send each once"
            )
        fields[name], spelled[name] = value, str(key)
    return fields


def _fail_on_errors(value: Any) -> int | None:
    """failOnErrors: absent, or a whole number of at least one (a numeric string too)."""
    if value is None:
        return None
    # "²" is a digit to str.isdigit() and int() refuses it (so are 5000 digits): invalidValue.
    number = whole_number(value) if isinstance(value, str) else value
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise InvalidValueError(
            "'failOnErrors' must be a whole number of at least 1"
            f" (a string of at most 18 digits), not {_shown(value)}"
        )
    return number


def _shown(value: Any) -> str:
    """A value in an error detail, cut short (the client's own text, echoed)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


def _check_unique_bulk_ids(operations: tuple[BulkOperation, ...]) -> None:
    """A bulkId names one operation: a second use would make its references ambiguous."""
    seen: dict[str, int] = {}
    for op in operations:
        if op.bulk_id is None:
            continue
        if op.bulk_id in seen:
            raise InvalidValueError(
                f"bulkId {op.bulk_id!r} is used by Operations[{seen[op.bulk_id]}]"
                f" and Operations[{op.index}]; each bulkId must be unique"
            )
        seen[op.bulk_id] = op.index


def _read_operation(index: int, raw: Any, max_data_bytes: int | None) -> BulkOperation:
    """One operation: its fields, or the error it will be answered with."""
    if not isinstance(raw, dict):
        error = InvalidSyntaxError(f"{_at(index)} must be an object")
        return BulkOperation(index, "", "", error=error)
    try:
        fields = _fields(raw, _at(index))
    except ScimError as exc:
        return BulkOperation(index, "", "", error=exc)
    method, path, bulk_id = fields.get("method"), fields.get("path"), fields.get("bulkid")
    shown = BulkOperation(
        index,
        method.upper() if isinstance(method, str) else "",
        path if isinstance(path, str) else "",
        bulk_id=bulk_id if isinstance(bulk_id, str) else None,
    )
    try:
        return _checked(shown, fields, max_data_bytes)
    except ScimError as exc:
        return BulkOperation(shown.index, shown.method, shown.path, shown.bulk_id, error=exc)


def _checked(
    shown: BulkOperation, fields: dict[str, Any], max_data_bytes: int | None
) -> BulkOperation:
    """The operation with its target and references, or the ScimError that answers it."""
    at, method = _at(shown.index), shown.method
    if method not in METHODS:
        raise InvalidValueError(f"{at} 'method' must be one of {', '.join(METHODS)}")
    bulk_id, version = fields.get("bulkid"), fields.get("version")
    if bulk_id is not None and (
        not isinstance(bulk_id, str) or not bulk_id.strip() or len(bulk_id) > MAX_BULK_ID_LENGTH
    ):
        raise InvalidValueError(
            f"{at} 'bulkId' must be a non-empty string of at most {MAX_BULK_ID_LENGTH} characters"
        )
    if version is not None and not isinstance(version, str):
        raise InvalidValueError(f"{at} 'version' must be a string (an ETag)")
    if not shown.path.strip():
        raise InvalidValueError(f"{at} needs a 'path' such as /Users or /Users/<id>")
    kind, resource_id = _target(method, shown.path)
    data = None if method == "DELETE" else fields.get("data")
    if method != "DELETE" and data is None:
        raise InvalidSyntaxError(f"{at} needs 'data' for {method}")
    if max_data_bytes is not None and _encoded_size(data) > max_data_bytes:
        raise PayloadTooLargeError(
            f"{at} 'data' is over {max_data_bytes} bytes, the body limit of a single request"
        )
    refs = references(data) | (references(resource_id) if resource_id is not None else set())
    return BulkOperation(
        shown.index,
        method,
        shown.path,
        bulk_id=shown.bulk_id,
        version=version,
        data=data,
        kind=kind,
        resource_id=resource_id,
        refs=tuple(sorted(refs)),
    )


def _encoded_size(data: Any) -> int:
    """The data's size as compact JSON (what the single request would at least have sent)."""
    return len(orjson.dumps(data))


def _at(index: int) -> str:
    return f"Operations[{index}]"


def _target(method: str, path: str) -> tuple[ResourceKind, str | None]:
    """The resource type and id a path names, as the single request's route would find them."""
    parts = path.strip().strip("/").split("/")
    kind = _ENDPOINTS.get(parts[0].lower())
    if kind is None or len(parts) > 2 or (len(parts) == 2 and not parts[1]):
        raise NotFoundError(f"No SCIM endpoint at {path}")
    resource_id = parts[1] if len(parts) == 2 else None
    if method == "POST" and resource_id is not None:
        raise MethodNotAllowedError(f"POST is not supported on {path}: POST to /{parts[0]}")
    if method != "POST" and resource_id is None:
        raise MethodNotAllowedError(f"{method} is not supported on {path}: name a resource id")
    return kind, resource_id


def references(value: Any) -> set[str]:
    """The bulkIds a value names: strings `bulkId:<id>`, and `"bulkId:<id>"` inside a string."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if item.startswith(REF_PREFIX) and len(item) > len(REF_PREFIX):
                found.add(item[len(REF_PREFIX) :])
            elif REF_PREFIX in item:
                found.update(_QUOTED_REF.findall(item))
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def resolve(value: Any, created: Mapping[str, str]) -> Any:
    """The value with each reference to a created bulkId replaced by the resource's id."""
    if isinstance(value, str):
        if value.startswith(REF_PREFIX) and value[len(REF_PREFIX) :] in created:
            return created[value[len(REF_PREFIX) :]]
        if REF_PREFIX in value:
            return _QUOTED_REF.sub(lambda m: _quoted(m, created), value)
        return value
    if isinstance(value, dict):
        return {key: resolve(item, created) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, created) for item in value]
    return value


def _quoted(match: re.Match[str], created: Mapping[str, str]) -> str:
    resolved = created.get(match.group(1))
    return match.group(0) if resolved is None else f'"{resolved}"'


def plan_bulk(operations: tuple[BulkOperation, ...]) -> BulkPlan:
    """Run order: request order, except that a POST runs before the operations naming its
    bulkId; operations in a reference cycle are marked (they are answered 409, not run)."""
    producer: dict[str, int] = {}
    for op in operations:
        if op.declares is not None:
            producer.setdefault(op.declares, op.index)
    needs = [sorted({producer[r] for r in op.refs if r in producer}) for op in operations]
    cycles = _cycles(needs)
    circular = {
        i: tuple(sorted(b for j in members if (b := operations[j].declares) is not None))
        for members in cycles
        for i in members
    }
    # A cyclic operation fails without running: it waits for nothing, so the rest is a DAG.
    waits = [[] if i in circular else deps for i, deps in enumerate(needs)]
    return BulkPlan(_topological(waits), producer, circular)


def _topological(waits: list[list[int]]) -> tuple[int, ...]:
    """Kahn's order, always taking the lowest ready index (request order where it can)."""
    pending = [len(deps) for deps in waits]
    waiters: list[list[int]] = [[] for _ in waits]
    for i, deps in enumerate(waits):
        for dep in deps:
            waiters[dep].append(i)
    ready = [i for i, count in enumerate(pending) if count == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for waiter in waiters[i]:
            pending[waiter] -= 1
            if pending[waiter] == 0:
                heapq.heappush(ready, waiter)
    return tuple(order)


def _cycles(needs: list[list[int]]) -> list[list[int]]:
    """The strongly connected components that hold a cycle (Tarjan's, iteratively)."""
    index_of: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    found: list[list[int]] = []
    for root in range(len(needs)):
        if root in index_of:
            continue
        work = [(root, 0)]
        while work:
            node, edge = work.pop()
            if edge == 0:
                index_of[node] = low[node] = len(index_of)
                stack.append(node)
                on_stack.add(node)
            if edge < len(needs[node]):
                work.append((node, edge + 1))
                dep = needs[node][edge]
                if dep not in index_of:
                    work.append((dep, 0))
                elif dep in on_stack:
                    low[node] = min(low[node], index_of[dep])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index_of[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in needs[node]:
                    found.append(sorted(component))
    return found


def blocked(op: BulkOperation, plan: BulkPlan, created: Mapping[str, str]) -> ScimError | None:
    """Why this operation cannot run now: its own error, a cycle, or a reference left unresolved."""
    if op.error is not None:
        return op.error
    cycle = plan.circular.get(op.index)
    if cycle is not None:
        names = " -> ".join([*cycle, cycle[0]]) if cycle else "itself"
        return ConflictError(
            f"{_at(op.index)} is part of a circular bulkId reference ({names}); "
            "create one of them without the reference and add it with a later PATCH"
        )
    for ref in op.refs:
        if ref in created:
            continue
        source = plan.producer.get(ref)
        if source is None:
            return InvalidValueError(
                f"{_at(op.index)} references bulkId {ref!r}, which no POST operation in this request declares"
            )
        return InvalidValueError(
            f"{_at(op.index)} references bulkId {ref!r}, but Operations[{source}] that creates it failed"
        )
    return None


def location(base_url: str, kind: ResourceKind, resource_id: str) -> str:
    """A resource's URI, as the single request's Location header gives it."""
    return f"{base_url}/{resource_type(kind).collection}/{resource_id}"


def operation_result(
    op: BulkOperation,
    *,
    status: int,
    location: str | None = None,
    version: str | None = None,
    error: ScimError | None = None,
) -> dict[str, Any]:
    """One BulkResponse operation: method, bulkId, location, version, status as a string,
    and for a failure the SCIM Error as its `response` (§3.7.3)."""
    # An operation whose method is none of the four is answered without one (not echoed).
    result: dict[str, Any] = {"method": op.method} if op.method in METHODS else {}
    if op.bulk_id is not None:
        result["bulkId"] = op.bulk_id
    if location is not None:
        result["location"] = location
    if version is not None:
        result["version"] = version
    result["status"] = str(status)
    if error is not None:
        result["response"] = error.to_body()
    return result


def bulk_response(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The BulkResponse message."""
    return {"schemas": [BULK_RESPONSE], "Operations": results}

"""Properties the mapping never fills: not mapped, or mapped from a path no staged user
has a value at (or none whose value fits the Property).

Each mapped Property is evaluated with the mapping's own rule (`mapping.expression
.evaluate`, what Synchronize applies) over the staged documents, read in keyset batches;
the scan stops as soon as every mapped Property has been filled once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from scimgate.mapping.expression import evaluate
from scimgate.mapping.mapper import Mapper, Rule
from scimgate.store import staged_documents


class Reason:
    """Why a Property stays empty (an item's `reason`)."""

    NOT_MAPPED = "not_mapped"
    NO_ATTRIBUTE = "no_attribute"
    NO_FIT = "no_fit"


def unfilled(
    conn: Connection, account_id: int, mapper: Mapper, properties: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every Property no staged user's value fills, by name, with why."""
    rules = {r.prop.id: r for r in mapper.rules if r.prop is not None}
    pending = dict(rules)
    seen: dict[str, str | None] = {}  # property id -> first error (None: present, no error)
    if pending:
        for doc in staged_documents.every_document(conn, account_id):
            for prop_id, rule in list(pending.items()):
                value, _origin, error = evaluate(list(rule.paths), doc, rule.convert)
                if value is not None:
                    del pending[prop_id]
                elif prop_id not in seen or seen[prop_id] is None:
                    if error is not None:
                        seen[prop_id] = error
                    elif any(p.read(doc) not in (None, "", [], {}) for p in rule.paths):
                        seen.setdefault(prop_id, None)
            if not pending:
                break
    out = []
    for prop in properties:
        found = rules.get(prop["id"])
        if found is None:
            reason, detail = Reason.NOT_MAPPED, "no mapping fills it"
        elif prop["id"] not in pending:
            continue
        else:
            reason, detail = _why(found, seen)
        out.append(
            {
                "property_id": prop["id"],
                "property": prop["name"],
                "type": prop["type"],
                "source": found.source if found else None,
                "reason": reason,
                "detail": detail,
            }
        )
    return out


def _why(rule: Rule, seen: dict[str, str | None]) -> tuple[str, str]:
    assert rule.prop is not None
    if rule.prop.id not in seen:
        return Reason.NO_ATTRIBUTE, f"no staged user has a value at {rule.source}"
    error = seen[rule.prop.id]
    fit = f" (for example: {error})" if error else ""
    return Reason.NO_FIT, f"staged users have {rule.source}, but no value fits the Property{fit}"

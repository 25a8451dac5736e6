"""A compiled attribute mapping: one staged User document in, member fields and Property values out.

Used by Synchronize and by the mapping preview, so both show the same result. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scimgate.mapping.expression import SourcePath, evaluate, parse_source
from scimgate.mapping.types import converter


@dataclass(frozen=True, slots=True)
class PropertyDef:
    """What the mapper needs to know of a Property."""

    id: str
    name: str
    type: str
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    """One mapping: a target (member field or Property) and its source paths."""

    target: str  # "name", "email" or "property:<id>"
    source: str
    paths: tuple[SourcePath, ...]
    prop: PropertyDef | None
    convert: Any

    @property
    def label(self) -> str:
        """The name people know the target by."""
        return self.prop.name if self.prop else self.target


@dataclass(slots=True)
class Mapped:
    """What a document maps to. Member references hold the referenced directory user id."""

    fields: dict[str, Any] = field(default_factory=dict)  # name, email
    values: dict[str, Any] = field(default_factory=dict)  # property id -> value
    origins: dict[str, str] = field(default_factory=dict)  # target -> the path that gave it
    errors: dict[str, str] = field(default_factory=dict)  # target label -> message


class Mapper:
    """Every mapping of an account, parsed once per sync."""

    def __init__(
        self,
        mappings: list[tuple[str, str]],
        properties: dict[str, PropertyDef],
        fallbacks: dict[str, str] | None = None,
    ) -> None:
        """`fallbacks`: target -> a path tried after the mapping's own (the IdP extension's
        attribute of a Property mapped by hand), beyond its limit of alternatives."""
        self.rules: list[Rule] = []
        for target, source in mappings:
            prop = None
            if target.startswith("property:"):
                prop = properties.get(target.removeprefix("property:"))
                if prop is None:
                    continue
                convert = converter(prop.type, list(prop.options))
            else:
                convert = converter(target)
            paths, shown = tuple(parse_source(source)), source
            fallback = (fallbacks or {}).get(target)
            if fallback:
                paths, shown = paths + tuple(parse_source(fallback)), f"{source} || {fallback}"
            self.rules.append(Rule(target, shown, paths, prop, convert))
        self.reference_ids = {r.prop.id for r in self.rules if r.prop and r.prop.type == "member"}
        self.mapped_property_ids = {r.prop.id for r in self.rules if r.prop}

    def apply(self, doc: dict[str, Any]) -> Mapped:
        """Evaluate every rule on one document."""
        out = Mapped()
        for rule in self.rules:
            value, origin, error = evaluate(list(rule.paths), doc, rule.convert)
            if error is not None:
                out.errors[rule.label] = error
                continue
            if rule.prop is None:
                out.fields[rule.target] = value
            elif value is not None:
                out.values[rule.prop.id] = value
            if origin is not None:
                out.origins[rule.target] = origin
        return out

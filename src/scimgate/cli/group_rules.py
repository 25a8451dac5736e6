"""Group rules: members of an identity-provider group get a Property value."""

from __future__ import annotations

from typing import Any

import typer

from scimgate.cli.core import (
    account_id_of,
    actor,
    command,
    print_account_rows,
    print_json,
    transaction,
)

app = typer.Typer(
    help="Group rules: members of a group get a Property value (lower priority wins).",
    no_args_is_help=True,
)
AS_JSON = typer.Option(False, "--json", help="Print one JSON document.")


@command(app, "add")
def rule_add(
    ctx: typer.Context,
    slug: str,
    group: str = typer.Argument(..., help="A staged group's displayName or id."),
    prop: str = typer.Argument(..., metavar="PROPERTY", help="A select, boolean or text Property."),
    value: str = typer.Argument(..., help="The value its members get."),
    priority: int = typer.Option(100, "--priority", help="Lower wins among rules of a Property."),
    as_json: bool = AS_JSON,
) -> None:
    """Give the members of a group a Property value (the next Synchronize applies it)."""
    from scimgate.group_rules import service as rules

    with transaction(ctx) as conn:
        row = rules.add_rule(
            conn,
            account_id_of(conn, slug),
            group=group,
            prop=prop,
            value=value,
            priority=priority,
            actor=actor(),
        )
    if as_json:
        print_json(row)
        return
    typer.echo(f"rule {row['id']}: {describe(row)}")


@command(app, "set")
def rule_set(
    ctx: typer.Context,
    slug: str,
    rule_id: int,
    value: str | None = typer.Option(None, "--value", help="A new value."),
    priority: int | None = typer.Option(None, "--priority", help="A new priority."),
    as_json: bool = AS_JSON,
) -> None:
    """Change a rule's value or priority."""
    from scimgate.group_rules import service as rules

    with transaction(ctx) as conn:
        row = rules.update_rule(
            conn, account_id_of(conn, slug), rule_id, value=value, priority=priority, actor=actor()
        )
    if as_json:
        print_json(row)
        return
    typer.echo(f"rule {row['id']}: {describe(row)}")


@command(app, "list")
def rule_list(ctx: typer.Context, slug: str, as_json: bool = AS_JSON) -> None:
    """List the rules, by Property, in the order they are applied."""
    from scimgate.group_rules import service as rules

    print_account_rows(
        ctx, slug, rules.list_rules, lambda r: f"{r['id']:>5}  {describe(r)}", as_json=as_json
    )


@command(app, "remove")
def rule_remove(ctx: typer.Context, slug: str, rule_id: int) -> None:
    """Remove a rule; the next Synchronize clears the values it set (or the mapping's apply)."""
    from scimgate.group_rules import service as rules

    with transaction(ctx) as conn:
        row = rules.remove_rule(conn, account_id_of(conn, slug), rule_id, actor=actor())
    typer.echo(f"removed rule {row['id']}: {describe(row)}")


def describe(row: dict[str, Any]) -> str:
    """One rule: group, Property, value and priority (`property show` lists them so too)."""
    gone = "" if row["group_present"] else " (no longer in staging)"
    return (
        f"members of {row['group_name']}{gone} get {row['property_name']} = "
        f"{row['value']} (priority {row['priority']})"
    )

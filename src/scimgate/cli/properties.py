"""Properties: typed member fields, their options, renames (of the Property and of its
SCIM attribute) and deletion."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from scimgate.cli.core import (
    CliError,
    account_id_of,
    actor,
    command,
    print_account_rows,
    print_json,
    transaction,
)
from scimgate.cli.group_rules import describe

app = typer.Typer(help="Typed member fields (Properties).", no_args_is_help=True)
RULES_NAMED = 10  # group rules a deletion names on its one line (`property show` lists all)


@command(app, "create")
def property_create(
    ctx: typer.Context,
    slug: str,
    name: str,
    kind: str = typer.Option(..., "--type", help="text, number, date, boolean, select or member."),
    option: Annotated[
        list[str] | None,
        typer.Option("--option", help="An option of a select Property (repeat)."),
    ] = None,
) -> None:
    """Create a Property (a typed member field)."""
    from scimgate.members import service as members

    with transaction(ctx) as conn:
        account_id = account_id_of(conn, slug)
        row = members.create_property(conn, account_id, name, kind, option or [], actor=actor())
    typer.echo(f"created Property {row['name']!r} ({row['type']})")
    if row.get("scim_path"):
        typer.echo(f"your identity provider can send it as {row['scim_path']}")


@command(app, "list")
def property_list(
    ctx: typer.Context,
    slug: str,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON array."),
) -> None:
    """List Properties and what each is mapped from."""
    from scimgate.members import service as members

    print_account_rows(ctx, slug, members.list_properties, _property_line, as_json=as_json)


def _property_line(row: dict[str, Any]) -> str:
    """One Property: name, type, options and what it is mapped from."""
    options = f" [{', '.join(row['options'])}]" if row["options"] else ""
    mapped = f"  <- {row['mapped_from']}" if row["mapped_from"] else ""
    return f"{row['name']:<30} {row['type']}{options}{mapped}"


@command(app, "show")
def property_show(
    ctx: typer.Context,
    slug: str,
    name: str,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Show a Property: its type, what fills it (mapping, group rules), and how many members
    hold each value."""
    from scimgate.members import properties

    with transaction(ctx) as conn:
        account_id = account_id_of(conn, slug)
        row = properties.detail(conn, account_id, properties.find(conn, account_id, name)["id"])
    if as_json:
        print_json(row)
        return
    typer.echo(f"{row['name']} ({row['type']}, id {row['id']})")
    typer.echo(f"mapped from: {row['mapped_from'] or '-'}")
    typer.echo(f"IdP extension attribute: {row.get('scim_path') or '-'}")
    rules = row["group_rules"]
    typer.echo(
        "set by group rules (in the order they apply):" if rules else "set by group rules: -"
    )
    for rule in rules:
        typer.echo(f"  rule {rule['id']}: {describe(rule)}")
    typer.echo(f"members with a value: {row['usage']['members']}")
    for option, count in row["usage"].get("options", {}).items():
        typer.echo(f"  {option:<30} {count}")


@command(app, "rename")
def property_rename(ctx: typer.Context, slug: str, name: str, new_name: str) -> None:
    """Rename a Property (its mapping and member values stay with it)."""
    from scimgate.members import properties

    with transaction(ctx) as conn:
        account_id = account_id_of(conn, slug)
        prop = properties.find(conn, account_id, name)
        row = properties.rename(conn, account_id, prop["id"], new_name, actor=actor())
    typer.echo(f"renamed Property {prop['name']!r} to {row['name']!r}")


@command(app, "rename-attribute")
def property_rename_attribute(ctx: typer.Context, slug: str, name: str, new_name: str) -> None:
    """Change a Property's SCIM attribute name (a rename keeps it): the IdP's mapping must
    then send the new name; what it sends under the old one is left out. Values stay."""
    from scimgate.members import properties

    with transaction(ctx) as conn:
        account_id = account_id_of(conn, slug)
        prop = properties.find(conn, account_id, name)
        before = properties.detail(conn, account_id, prop["id"]).get("scim_path")
        row = properties.rename_attribute(conn, account_id, prop["id"], new_name, actor=actor())
    if row["scim_path"] == before:
        typer.echo(f"Property {row['name']!r} already has the SCIM attribute {row['scim_path']}")
        return
    typer.echo(f"Property {row['name']!r}: SCIM attribute {before} is now {row['scim_path']}")
    typer.echo(
        "update your identity provider's mapping: values sent under the old name are left out"
    )


def _renames(pairs: list[str]) -> dict[str, str]:
    """OLD=NEW arguments of --rename."""
    out: dict[str, str] = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise CliError(f"--rename takes OLD=NEW, not {pair!r}")
        out[old.strip()] = new.strip()
    return out


@command(app, "options")
def property_options(
    ctx: typer.Context,
    slug: str,
    name: str,
    add: Annotated[list[str] | None, typer.Option("--add", help="A new option (repeat).")] = None,
    rename: Annotated[
        list[str] | None,
        typer.Option("--rename", help="OLD=NEW: members holding OLD now hold NEW (repeat)."),
    ] = None,
    remove: Annotated[
        list[str] | None, typer.Option("--remove", help="An option to remove (repeat).")
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="Clear the value of members holding a removed option.")
    ] = False,
) -> None:
    """Change a select Property's options (with none: list them with member counts).

    Removing an option members still hold is refused unless --clear is given.
    """
    from scimgate.members import properties

    with transaction(ctx) as conn:
        account_id = account_id_of(conn, slug)
        prop = properties.find(conn, account_id, name)
        if add or rename or remove:
            options, renamed = properties.edit_options(
                list(prop["options"] or []),
                add=add or [],
                rename=_renames(rename or []),
                remove=remove or [],
            )
            try:
                properties.update_options(
                    conn,
                    account_id,
                    prop["id"],
                    options,
                    renamed=renamed,
                    clear_removed=clear,
                    actor=actor(),
                )
            except properties.OptionsInUseError as exc:
                raise CliError(f"{exc.detail} (pass --clear to clear them)") from None
        row = properties.detail(conn, account_id, prop["id"])
    if row["type"] != "select":
        raise CliError(f"{row['name']!r} is a {row['type']} Property: only select has options")
    for option, count in row["usage"]["options"].items():
        typer.echo(f"{option:<30} {count} member{'' if count == 1 else 's'}")


@command(app, "delete")
def property_delete(
    ctx: typer.Context,
    slug: str,
    name: str,
    yes: bool = typer.Option(
        False, "--yes", help="Confirm: the mapping, group rules and values go too."
    ),
) -> None:
    """Delete a Property, the mapping onto it, the group rules that set it and every
    member's value of it."""
    from scimgate.members import properties

    with transaction(ctx) as conn:
        account_id = account_id_of(conn, slug)
        prop = properties.find(conn, account_id, name)
        impact = properties.delete_impact(conn, account_id, prop["id"])
        what = _delete_summary(impact)
        if not yes:
            raise CliError(f"deleting {what}: run again with --yes to confirm")
        properties.delete(conn, account_id, prop["id"], actor=actor())
    typer.echo(f"deleted {what}")


def _delete_summary(impact: dict[str, Any]) -> str:
    """What a Property's deletion takes with it, in one line."""
    n = impact["members"]
    mapped = f", its mapping from {impact['mapped_from']}" if impact["mapped_from"] else ""
    return (
        f"Property {impact['property']['name']!r}{mapped}{_rules_summary(impact['group_rules'])} "
        f"and the value{'' if n == 1 else 's'} of {n} member{'' if n == 1 else 's'}"
    )


def _rules_summary(rules: list[dict[str, Any]]) -> str:
    """The group rules a deletion removes, each named (the first RULES_NAMED of them)."""
    if not rules:
        return ""
    named = "; ".join(
        f"rule {r['id']}: {r['group_name']} = {r['value']}" for r in rules[:RULES_NAMED]
    )
    more = f"; and {len(rules) - RULES_NAMED} more" if len(rules) > RULES_NAMED else ""
    n = len(rules)
    return f", the {n} group rule{'' if n == 1 else 's'} that set it ({named}{more})"

"""Attribute mapping: which SCIM attribute fills which member field or Property."""

from __future__ import annotations

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
    help="Attribute mapping: SCIM attributes onto member fields and Properties.",
    no_args_is_help=True,
)
AS_JSON = typer.Option(False, "--json", help="Print one JSON array.")


@command(app, "set")
def mapping_set(ctx: typer.Context, slug: str, target: str, scim_path: str) -> None:
    """Map a SCIM path onto a member field (name, email) or a Property; `a || b` tries a, then b."""
    from scimgate.mapping import service as mapping

    with transaction(ctx) as conn:
        account_id = account_id_of(conn, slug)
        row = mapping.set_mapping(conn, account_id, target, scim_path, actor=actor())
    typer.echo(f"{row['target']} <- {row['source']}")


@command(app, "list")
def mapping_list(ctx: typer.Context, slug: str, as_json: bool = AS_JSON) -> None:
    """List the attribute mapping."""
    from scimgate.mapping import service as mapping

    print_account_rows(
        ctx,
        slug,
        mapping.list_mappings,
        lambda row: (
            f"{row['target']:<30} ({row['type']}) <- {row['source']}"
            + (f", else {row['fallback']} (the IdP extension)" if row.get("fallback") else "")
            + ("  (from the IdP extension)" if row.get("implicit") else "")
        ),
        as_json=as_json,
    )


@command(app, "remove")
def mapping_remove(ctx: typer.Context, slug: str, target: str) -> None:
    """Stop mapping onto a member field or Property."""
    from scimgate.mapping import service as mapping

    with transaction(ctx) as conn:
        mapping.remove_mapping(conn, account_id_of(conn, slug), target, actor=actor())
    typer.echo(f"{target} is no longer mapped")


@command(app, "preview")
def mapping_preview(
    ctx: typer.Context,
    slug: str,
    limit: int = typer.Option(5, help="How many staged users (1-100)."),
    as_json: bool = AS_JSON,
) -> None:
    """Show what the mapping produces for sample staged users."""
    from scimgate.mapping import service as mapping

    with transaction(ctx) as conn:
        rows = mapping.preview(conn, account_id_of(conn, slug), limit=limit)
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no staged users yet", err=True)
    for row in rows:
        typer.echo(row["userName"])
        for target, value in row["values"].items():
            typer.echo(f"  {target:<28} {value if value is not None else '-'}")
        for target, error in row["errors"].items():
            typer.echo(f"  {target:<28} ! {error}")

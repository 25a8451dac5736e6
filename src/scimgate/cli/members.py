"""Members and teams: the product's people, and its mirror of directory groups."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from scimgate.cli.core import account_id_of, command, print_account_rows, print_json, transaction

if TYPE_CHECKING:
    from scimgate.database_service import Connection

member_app = typer.Typer(help="List and add the product's members.", no_args_is_help=True)
team_app = typer.Typer(
    help="Teams: the product's mirror of directory groups.", no_args_is_help=True
)


@command(member_app, "list")
def member_list(
    ctx: typer.Context,
    slug: str,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON array."),
    status: str | None = typer.Option(None, help="active or deactivated."),
    source: str | None = typer.Option(None, help="scim or manual."),
    search: str | None = typer.Option(None, help="Part of an email or name."),
) -> None:
    """List members with their Property values."""
    from scimgate.members import service as members

    def read(conn: Connection, account_id: int) -> list[dict[str, Any]]:
        return members.member_documents(
            conn, account_id, status=status, source=source, search=search
        )

    print_account_rows(ctx, slug, read, _member_line, as_json=as_json)


def _member_line(row: dict[str, Any]) -> str:
    """One member: e-mail, name, status, source and Property values."""
    props = ", ".join(f"{k}={v}" for k, v in row["properties"].items())
    return f"{row['email'] or '-':<40} {row['name']:<30} {row['status']:<11} {row['source']:<6} {props}"


@command(member_app, "add")
def member_add(
    ctx: typer.Context,
    slug: str,
    email: str,
    name: str = typer.Option("", help="Display name (default: the part of the email before @)."),
) -> None:
    """Add a manual member (Synchronize links it to a staged user with the same email)."""
    from scimgate.members import service as members

    with transaction(ctx) as conn:
        row = members.add_member(conn, account_id_of(conn, slug), email, name=name)
    typer.echo(f"added member {row['email']} ({row['id']})")


@command(team_app, "list")
def team_list(
    ctx: typer.Context,
    slug: str,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON array."),
    with_members: bool = typer.Option(
        False, "--members", help="List each team's members under it, one per line."
    ),
) -> None:
    """List teams, one a line with its member count."""
    from scimgate.members import listing
    from scimgate.members import service as members

    with transaction(ctx) as conn:
        account_id = account_id_of(conn, slug)
        if as_json:
            print_json(members.list_teams(conn, account_id))
            return
        rows = listing.teams_with_counts(conn, account_id)
        for row in rows:
            count = row["member_count"]
            typer.echo(f"{row['name']}\t{count} member{'' if count == 1 else 's'}")
            if with_members:
                for person in listing.all_team_members(conn, account_id, row["id"]):
                    typer.echo(f"  {person['email'] or person['name']}")


@command(team_app, "show")
def team_show(
    ctx: typer.Context,
    slug: str,
    team: str = typer.Argument(..., help="The team's name or id."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Show one team and its members, one per line."""
    from scimgate.members import listing

    with transaction(ctx) as conn:
        account_id = account_id_of(conn, slug)
        found = listing.find_team(conn, account_id, team)
        people = listing.all_team_members(conn, account_id, found["id"])
    if as_json:
        print_json({**found, "members": people})
        return
    typer.echo(f"{found['name']} ({found['member_count']} members, id {found['id']})")
    for person in people:
        typer.echo(f"{person['email'] or '-'}\t{person['name']}\t{person['status']}")

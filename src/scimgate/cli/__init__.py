"""The `scimgate` command line: a thin shell over the same services the web app uses.

Errors end the command with exit status 1 and one line on stderr, never a traceback.
One module per command group; cli.core holds what they share.
"""

from __future__ import annotations

import typer

from scimgate.cli import (
    accounts,
    admins,
    api_keys,
    audit_log,
    drift,
    events,
    group_rules,
    mapping,
    members,
    properties,
    schedule,
    server,
    setup_links,
    sync,
    webhooks,
)

app = typer.Typer(
    help="scimgate: multi-tenant SCIM 2.0 user provisioning.",
    no_args_is_help=True,
    add_completion=False,
)
# Top-level commands first, in the order `scimgate --help` lists them, then the groups.
for commands in (server.app, sync.app, drift.app, audit_log.app, schedule.app, events.app):
    app.add_typer(commands)
app.add_typer(members.member_app, name="member")
app.add_typer(properties.app, name="property")
app.add_typer(members.team_app, name="team")
app.add_typer(mapping.app, name="mapping")
app.add_typer(group_rules.app, name="group-rule")
app.add_typer(accounts.account_app, name="account")
app.add_typer(accounts.provisioning_app, name="provisioning")
app.add_typer(accounts.token_app, name="token")
app.add_typer(admins.app, name="admin")
app.add_typer(api_keys.app, name="apikey")
app.add_typer(setup_links.app, name="setuplink")
app.add_typer(webhooks.app, name="webhook")


def main() -> None:
    """Console script entry point."""
    app()

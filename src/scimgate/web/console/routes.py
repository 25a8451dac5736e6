"""The console's URL map under /console."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from scimgate.settings import Settings
from scimgate.web.console import (
    account_views,
    audit_views,
    auth_views,
    drift_views,
    event_views,
    group_rule_views,
    integration_views,
    log_views,
    mapping_views,
    member_views,
    property_views,
    provisioning_views,
    setup_link_views,
    sync_views,
)
from scimgate.web.console.endpoint import PREFIX, Console
from scimgate.web.outage import OutageLog

STATIC = Path(__file__).parent / "static"


def console_mount(engine: Engine, settings: Settings, outage: OutageLog | None = None) -> Mount:
    """Every console page, each behind the session and CSRF checks (sign-in excepted)."""
    console = Console(engine, settings, outage)
    page = console.endpoint
    get, post = ["GET"], ["POST"]
    routes = [
        Route("/", page(auth_views.home), methods=get),
        Route("/login", page(auth_views.login, public=True), methods=["GET", "POST"]),
        Route("/logout", page(auth_views.logout), methods=post),
        Route("/account/sessions", page(account_views.sessions), methods=get),
        Route("/account/sessions/others", page(account_views.sign_out_others), methods=post),
        Route("/account/sessions/{handle}/revoke", page(account_views.revoke), methods=post),
        Route("/account/password", page(account_views.password), methods=["GET", "POST"]),
        Route("/provisioning", page(provisioning_views.show), methods=get),
        Route("/provisioning/activate", page(provisioning_views.activate), methods=post),
        Route("/provisioning/deactivate", page(provisioning_views.deactivate), methods=post),
        Route("/provisioning/tokens", page(provisioning_views.new_token), methods=post),
        Route(
            "/provisioning/tokens/{token_id:int}/revoke",
            page(provisioning_views.revoke),
            methods=post,
        ),
        Route("/provisioning/setup-links", page(setup_link_views.create), methods=post),
        Route(
            "/provisioning/setup-links/{link_id:int}/revoke",
            page(setup_link_views.revoke),
            methods=post,
        ),
        Route("/sync", page(sync_views.available), methods=get),
        Route("/sync", page(sync_views.start, writes=False), methods=post),
        Route("/sync/runs", page(sync_views.runs), methods=get),
        Route("/sync/runs/{run_id:int}", page(sync_views.run), methods=get),
        Route("/sync/runs/{run_id:int}/progress", page(sync_views.progress), methods=get),
        Route(
            "/sync/runs/{run_id:int}/confirm", page(sync_views.confirm, writes=False), methods=post
        ),
        Route("/sync/settings", page(sync_views.settings_page), methods=["GET", "POST"]),
        Route("/drift", page(drift_views.drift), methods=get),
        Route("/members", page(member_views.members_page), methods=get),
        Route("/members/{member_id}", page(member_views.member), methods=get),
        Route("/teams", page(member_views.teams), methods=get),
        Route("/teams/{team_id}", page(member_views.team), methods=get),
        Route("/properties", page(mapping_views.properties), methods=["GET", "POST"]),
        Route("/properties/{property_id}", page(property_views.show), methods=get),
        Route("/properties/{property_id}/rename", page(property_views.rename), methods=post),
        Route(
            "/properties/{property_id}/attribute",
            page(property_views.rename_attribute),
            methods=post,
        ),
        Route("/properties/{property_id}/options", page(property_views.options), methods=post),
        Route(
            "/properties/{property_id}/delete",
            page(property_views.delete),
            methods=["GET", "POST"],
        ),
        Route("/mapping", page(mapping_views.mapping), methods=["GET", "POST"]),
        Route("/mapping/remove", page(mapping_views.remove), methods=post),
        Route("/group-rules", page(group_rule_views.page), methods=["GET", "POST"]),
        Route("/group-rules/{rule_id:int}/remove", page(group_rule_views.remove), methods=post),
        Route("/group-rules/{rule_id:int}/priority", page(group_rule_views.priority), methods=post),
        Route("/integrations", page(integration_views.show), methods=get),
        Route("/integrations/keys", page(integration_views.create_key), methods=post),
        Route(
            "/integrations/keys/{key_id:int}/revoke",
            page(integration_views.revoke_key),
            methods=post,
        ),
        Route("/integrations/webhooks", page(integration_views.add_endpoint), methods=post),
        Route(
            "/integrations/webhooks/{endpoint_id:int}",
            page(integration_views.endpoint),
            methods=get,
        ),
        Route(
            "/integrations/webhooks/{endpoint_id:int}/remove",
            page(integration_views.remove_endpoint),
            methods=post,
        ),
        Route(
            "/integrations/webhooks/{endpoint_id:int}/resume",
            page(integration_views.resume),
            methods=post,
        ),
        Route(
            "/integrations/webhooks/{endpoint_id:int}/redeliver",
            page(integration_views.redeliver, writes=False),
            methods=post,
        ),
        Route(
            "/integrations/webhooks/{endpoint_id:int}/dead-letters/redeliver",
            page(event_views.redeliver_dead, writes=False),
            methods=post,
        ),
        Route(
            "/integrations/events/retention", page(integration_views.set_retention), methods=post
        ),
        Route("/log", page(log_views.entries), methods=get),
        Route("/log/{entry_id:int}", page(log_views.entry), methods=get),
        Route("/audit", page(audit_views.entries), methods=get),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        Route("/{rest:path}", page(auth_views.not_found), methods=["GET", "POST"]),
    ]
    return Mount(PREFIX, routes=routes)

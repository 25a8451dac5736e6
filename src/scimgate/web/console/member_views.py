"""Members and Teams: searchable, filterable, paginated lists and detail pages."""

from __future__ import annotations

from scimgate.members import listing
from scimgate.members import service as members
from scimgate.web.console.endpoint import Ctx, Page

PAGE_SIZE = 50


def members_page(ctx: Ctx) -> Page:
    """Members filtered by search text, status and source, sorted, a page at a time (cursor)."""
    status = ctx.arg("status") if ctx.arg("status") in ("active", "deactivated") else ""
    source = ctx.arg("source") if ctx.arg("source") in ("scim", "manual") else ""
    search = ctx.arg("q")[:200]
    sort = ctx.arg("sort") if ctx.arg("sort").removeprefix("-") in listing.SORTS else ""
    after = ctx.request.query_params.get("after", "")[:2048] or None
    rows, next_key = listing.member_page(
        ctx.conn,
        ctx.account_id,
        sort=sort or None,
        cursor=after,
        limit=PAGE_SIZE,
        status=status or None,
        source=source or None,
        search=search or None,
    )
    where = {k: v for k, v in (("status", status), ("source", source)) if v}
    total = members.count_members(ctx.conn, ctx.account_id, **where) if not search else None
    return Page(
        "members.html",
        {
            "rows": rows,
            "next_after": next_key,
            "filters": {"q": search, "status": status, "source": source, "sort": sort},
            "first_page": after is None,
            "total": total,
            "properties": [p["name"] for p in members.list_properties(ctx.conn, ctx.account_id)][
                :4
            ],
        },
    )


def member(ctx: Ctx) -> Page:
    """One member with the origin of every value."""
    member_id = ctx.path["member_id"][:64]
    return Page("member.html", {"m": members.member_detail(ctx.conn, ctx.account_id, member_id)})


def teams(ctx: Ctx) -> Page:
    """Teams (mirrors of directory groups) with member counts."""
    search = ctx.arg("q")[:200]
    after = ctx.arg("after")[:64] or None
    rows, next_key = listing.team_page(
        ctx.conn, ctx.account_id, search=search or None, cursor=after, limit=PAGE_SIZE
    )
    return Page(
        "teams.html",
        {
            "rows": rows,
            "next_after": next_key,
            "filters": {"q": search},
            "first_page": after is None,
        },
    )


def team(ctx: Ctx) -> Page:
    """One team and a page of its members."""
    found = listing.get_team(ctx.conn, ctx.account_id, ctx.path["team_id"][:64])
    after = ctx.arg("after")[:64] or None
    rows, next_key = listing.team_member_page(
        ctx.conn, ctx.account_id, found["id"], cursor=after, limit=PAGE_SIZE
    )
    return Page(
        "team.html",
        {
            "team": found,
            "rows": rows,
            "next_after": next_key,
            "first_page": after is None,
        },
    )

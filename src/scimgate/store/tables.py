"""The schema, as SQLAlchemy Core tables. Every account-owned table is keyed by account first.

Keys lead with `account_id` so that one account's rows sit together in every index and
a Citus-style distribution by account needs no redesign.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB

from scimgate.states import RunStatus

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

# JSON documents: JSONB on PostgreSQL, JSON text on SQLite.
Document = JSON().with_variant(JSONB(), "postgresql")
Id = BigInteger().with_variant(Integer(), "sqlite")

account = Table(
    "account",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("slug", String(63), nullable=False),
    Column("name", String(255), nullable=False),
    Column("provisioning_entitled", Boolean, nullable=False, default=False),
    Column("provisioning_active", Boolean, nullable=False, default=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Synchronize settings (see docs/sync.md).
    Column("sync_daily_enabled", Boolean, nullable=False, default=True, server_default=true()),
    Column("sync_daily_time", String(5), nullable=False, default="03:00", server_default="03:00"),
    Column("sync_timezone", String(64), nullable=False, default="UTC", server_default="UTC"),
    Column(
        "sync_next_at", DateTime(timezone=True)
    ),  # the next daily run, claimed by compare-and-set
    Column("sync_hold_percent", Integer, nullable=False, default=10, server_default="10"),
    Column("sync_hold_minimum", Integer, nullable=False, default=10, server_default="10"),
    # Bumped by every mapping or Property change: members synced under an older revision
    # are recomputed even when their directory user did not change.
    Column("mapping_rev", Integer, nullable=False, default=0, server_default="0"),
    # The last Event sequence number handed out (the outbox: docs/api.md).
    Column("event_seq", BigInteger, nullable=False, default=0, server_default="0"),
    UniqueConstraint("slug"),
)

provisioning_token = Table(
    "provisioning_token",
    metadata,
    Column("account_id", Id, nullable=False),
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("name", String(255), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
    UniqueConstraint("token_hash"),
    Index(None, "account_id", "id"),
)

directory_user = Table(
    "directory_user",
    metadata,
    Column("account_id", Id, nullable=False),
    Column("id", String(64), nullable=False),
    Column("user_name", String(512), nullable=False),
    Column(
        "user_name_key", String(512), nullable=False
    ),  # lower-cased: userName is caseExact false
    Column("external_id", String(512)),
    Column("display_name", String(512)),
    Column("active", Boolean, nullable=False, default=True),
    Column("doc", Document, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("account_id", "id"),
    ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
    UniqueConstraint("account_id", "user_name_key"),
    # `id` last: an equality lookup then yields rows already in the paging order (ORDER BY id).
    Index(None, "account_id", "external_id", "id"),
    Index(None, "account_id", "display_name", "id"),
    Index(None, "account_id", "updated_at"),
)

directory_user_email = Table(
    "directory_user_email",
    metadata,
    Column("account_id", Id, nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("position", Integer, nullable=False),
    Column("value_key", String(512), nullable=False),  # lower-cased for case-insensitive lookups
    Column("type", String(64)),
    Column("is_primary", Boolean, nullable=False, default=False),
    PrimaryKeyConstraint("account_id", "user_id", "position"),
    ForeignKeyConstraint(
        ["account_id", "user_id"],
        ["directory_user.account_id", "directory_user.id"],
        ondelete="CASCADE",
    ),
    Index(None, "account_id", "value_key"),
)

directory_group = Table(
    "directory_group",
    metadata,
    Column("account_id", Id, nullable=False),
    Column("id", String(64), nullable=False),
    Column("display_name", String(512), nullable=False),
    Column("display_name_key", String(512), nullable=False),
    Column("external_id", String(512)),
    Column("doc", Document, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("account_id", "id"),
    ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
    UniqueConstraint("account_id", "display_name_key"),
    Index(None, "account_id", "external_id", "id"),
    Index(None, "account_id", "updated_at"),
)

directory_membership = Table(
    "directory_membership",
    metadata,
    Column("account_id", Id, nullable=False),
    Column("group_id", String(64), nullable=False),
    Column("member_id", String(64), nullable=False),
    Column("member_type", String(8), nullable=False),  # a scim.resource_types.ResourceKind
    Column("display", String(512)),  # as the client sent it, if it did
    PrimaryKeyConstraint("account_id", "group_id", "member_id"),
    ForeignKeyConstraint(
        ["account_id", "group_id"],
        ["directory_group.account_id", "directory_group.id"],
        ondelete="CASCADE",
    ),
    # Covering, so "groups of this user" never scans the account's memberships through the
    # primary key instead (SQLite prefers covering indexes when it has no statistics).
    Index(None, "account_id", "member_id", "group_id"),
)

# How many Users and Groups an account holds, kept in the same transaction as every
# insert and delete: a plain list page (Okta imports page through every user) then
# answers totalResults without counting 100,000 index entries.
directory_count = Table(
    "directory_count",
    metadata,
    Column("account_id", Id, nullable=False),
    Column("kind", String(8), nullable=False),
    Column("n", BigInteger, nullable=False),
    # Inserts and deletes so far: a list page may continue from a remembered id while it
    # has not moved (store/page_marks.py).
    Column("changes", BigInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("account_id", "kind"),
    ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
)

request_log = Table(
    "request_log",
    metadata,
    Column("account_id", Id, nullable=False),
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("method", String(8), nullable=False),
    Column("path", String(1024), nullable=False),
    Column("query", Text, nullable=False, default=""),
    Column("status", Integer, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("scim_type", String(32)),
    Column("detail", Text),
    Column("ignored", Text),
    Column("resource_id", String(64)),
    # Redacted and cut to a few KB: the body of writes, and the answer to writes and errors.
    Column("request_body", Text),
    Column("response_body", Text),
    ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
    Index(None, "account_id", "id"),
    Index(None, "account_id", "at"),
)

# ---- Host integration: API keys for /api/v1 (docs/api.md) ----

api_key = Table(
    "api_key",
    metadata,
    Column("account_id", Id, nullable=False),
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, default=""),
    Column("key_hash", String(64), nullable=False),  # SHA-256 of the key
    Column("prefix", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
    UniqueConstraint("key_hash"),
    Index(None, "account_id", "id"),
)

# Every change to a member, its Property values, a team or a team membership, written in
# the transaction that made it, numbered per account in commit order (the account row's
# event_seq is taken under its row lock).
event = Table(
    "event",
    metadata,
    Column("account_id", Id, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("id", String(36), nullable=False),  # stable id for webhook-id headers
    Column("type", String(64), nullable=False),
    Column("subject_id", String(64)),
    Column("data", Document, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("account_id", "seq"),
    ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
)

# Webhook endpoints of an account and what was delivered to them (docs/api.md). Each
# endpoint is a cursor on the event sequence: events are delivered in order, one at a time,
# by whichever process holds the endpoint's lease.
webhook_endpoint = Table(
    "webhook_endpoint",
    metadata,
    Column("account_id", Id, nullable=False),
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("url", String(2048), nullable=False),
    Column("secret", String(64), nullable=False),  # whsec_…: needed in clear to sign
    Column("event_types", Document, nullable=False),  # [] = every type
    Column("status", String(16), nullable=False),  # active | failing
    Column("cursor", BigInteger, nullable=False),  # last event seq delivered or skipped
    Column("attempts", Integer, nullable=False, default=0),  # failed tries of the next event
    Column("first_failure_at", DateTime(timezone=True)),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("lease_owner", String(128)),
    Column("lease_until", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
    Index(None, "account_id", "id"),
    Index(None, "next_attempt_at"),
)

webhook_delivery = Table(
    "webhook_delivery",
    metadata,
    Column("account_id", Id, nullable=False),
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("endpoint_id", Id, nullable=False),
    Column("event_seq", BigInteger, nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status_code", Integer),  # None: no answer (refused, timeout)
    Column("error", Text),
    Column("duration_ms", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
    ForeignKeyConstraint(["endpoint_id"], ["webhook_endpoint.id"], ondelete="CASCADE"),
    Index(None, "account_id", "endpoint_id", "id"),
)

# ---- Console sign-in (docs/console.md) ----

admin = Table(
    "admin",
    metadata,
    Column("account_id", Id, nullable=False),
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False),
    Column("email_key", String(320), nullable=False),  # lower-cased: one admin per address
    Column("password_hash", String(255), nullable=False),  # argon2id
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_signin_at", DateTime(timezone=True)),
    ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
    UniqueConstraint("account_id", "email_key"),
)

admin_session = Table(
    "admin_session",
    metadata,
    Column("account_id", Id, nullable=False),
    Column("id", String(64), primary_key=True),  # SHA-256 of the cookie's secret
    Column("admin_id", Id, nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    # Shown on "Your sessions": where the sign-in came from, and when the session was last used.
    Column("last_seen_at", DateTime(timezone=True)),  # written at most once a minute
    Column("ip", String(64)),
    Column("user_agent", String(512)),
    ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
    ForeignKeyConstraint(["admin_id"], ["admin.id"], ondelete="CASCADE"),
    Index(None, "admin_id"),
)

# ---- The product side: members, their Properties, teams (docs/sync.md) ----

member = Table(
    "member",
    metadata,
    Column("account_id", Id, nullable=False),
    Column("id", String(36), nullable=False),
    Column("email", String(512)),
    Column(
        "email_key", String(512)
    ),  # lower-cased: members are matched by email case-insensitively
    Column("name", String(512), nullable=False, default=""),
    Column("status", String(16), nullable=False),  # active | deactivated
    Column("source", String(8), nullable=False),  # scim | manual
    Column("directory_user_id", String(64)),  # the staged user it mirrors, while it exists
    # The directory user's version and the account's mapping revision last applied:
    # when both still match, a sync skips the member without reading its document.
    Column("synced_version", Integer),
    Column("synced_rev", Integer),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("deactivated_at", DateTime(timezone=True)),
    PrimaryKeyConstraint("account_id", "id"),
    ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
    UniqueConstraint("account_id", "email_key"),
    UniqueConstraint("account_id", "directory_user_id"),
    Index(None, "account_id", "status", "source"),
)

member_property = Table(
    "member_property",
    metadata,
    Column("account_id", Id, nullable=False),
    Column("id", String(36), nullable=False),
    Column("name", String(64), nullable=False),
    Column("name_key", String(64), nullable=False),
    Column("type", String(16), nullable=False),  # text | number | date | boolean | select | member
    Column("options", Document, nullable=False),  # select options, [] otherwise
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("account_id", "id"),
    ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
    UniqueConstraint("account_id", "name_key"),
)

property_value = Table(
    "property_value",
    metadata,
    Column("account_id", Id, nullable=False),
    Column("member_id", String(36), nullable=False),
    Column("property_id", String(36), nullable=False),
    Column(
        "value", Document, nullable=False
    ),  # JSON: string, number, boolean; a member id for references
    Column("source", String(8), nullable=False),  # scim (from the mapping) | manual
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("account_id", "member_id", "property_id"),
    ForeignKeyConstraint(
        ["account_id", "member_id"], ["member.account_id", "member.id"], ondelete="CASCADE"
    ),
    ForeignKeyConstraint(
        ["account_id", "property_id"],
        ["member_property.account_id", "member_property.id"],
        ondelete="CASCADE",
    ),
    Index(None, "account_id", "property_id"),
)

attribute_mapping = Table(
    "attribute_mapping",
    metadata,
    Column("account_id", Id, nullable=False),
    Column("target", String(64), nullable=False),  # "name", "email" or "property:<id>"
    Column("source", String(1024), nullable=False),  # SCIM path(s), alternatives joined by ||
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("account_id", "target"),
    ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
)

team = Table(
    "team",
    metadata,
    Column("account_id", Id, nullable=False),
    Column("id", String(36), nullable=False),
    Column("name", String(512), nullable=False),
    Column("directory_group_id", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("account_id", "id"),
    ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
    UniqueConstraint("account_id", "directory_group_id"),
)

team_member = Table(
    "team_member",
    metadata,
    Column("account_id", Id, nullable=False),
    Column("team_id", String(36), nullable=False),
    Column("member_id", String(36), nullable=False),
    PrimaryKeyConstraint("account_id", "team_id", "member_id"),
    ForeignKeyConstraint(
        ["account_id", "team_id"], ["team.account_id", "team.id"], ondelete="CASCADE"
    ),
    ForeignKeyConstraint(
        ["account_id", "member_id"], ["member.account_id", "member.id"], ondelete="CASCADE"
    ),
    Index(None, "account_id", "member_id", "team_id"),
)

sync_run = Table(
    "sync_run",
    metadata,
    Column("account_id", Id, nullable=False),
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("trigger", String(8), nullable=False),  # manual | daily | cli | api
    # planned | held | running | succeeded | failed | superseded
    Column("status", String(16), nullable=False),
    Column("counts", Document, nullable=False),
    Column("detail", Text),  # why it was held or failed
    Column("allow_deactivations", Integer),  # set by a confirmation: the hold's ceiling
    Column("owner", String(128)),  # host:pid of the process running it
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),  # a confirmed held run keeps its first
    Column("confirmed_at", DateTime(timezone=True)),  # when a held run was confirmed
    Column("confirmed_by", String(320)),  # who confirmed it (an audit actor)
    Column("heartbeat_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
    Index(None, "account_id", "id"),
    # One running synchronization per account, whichever process started it.
    Index(
        "uq_sync_run_one_running",
        "account_id",
        unique=True,
        sqlite_where=text(f"status = '{RunStatus.RUNNING}'"),
        postgresql_where=text(f"status = '{RunStatus.RUNNING}'"),
    ),
)

sync_item = Table(
    "sync_item",
    metadata,
    Column("account_id", Id, nullable=False),
    Column("run_id", Id, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(8), nullable=False),  # member | team
    # create | update | deactivate | reactivate | unchanged | remove | rename
    Column("action", String(16), nullable=False),
    Column("subject_id", String(64)),  # member or team id
    Column("directory_id", String(64)),  # directory user or group id
    Column("label", String(512)),  # email or name, for people reading the run
    Column("changes", Document),  # {field: [old, new]}
    Column("error", Text),
    PrimaryKeyConstraint("account_id", "run_id", "seq"),
    ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
    ForeignKeyConstraint(["run_id"], ["sync_run.id"], ondelete="CASCADE"),
)

# ---- Audit log (docs/console.md, docs/api.md) ----

# Who changed what in an account's configuration: tokens, API keys, webhooks, mappings,
# Properties, settings, admins' passwords and sessions, started and confirmed runs.
# Written in the transaction of the change; ids are numbered per account under the
# account row's lock (store/audit.py).
audit_entry = Table(
    "audit_entry",
    metadata,
    Column("account_id", Id, nullable=False),
    Column("id", Id, nullable=False, autoincrement=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(320), nullable=False),  # admin email, cli:<user>, apikey:<prefix>…
    Column("action", String(64), nullable=False),  # e.g. api_key.created
    Column("target", String(512), nullable=False),
    Column("details", Document, nullable=False),  # never a secret
    PrimaryKeyConstraint("account_id", "id"),
    ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
)

# ---- Console sign-in throttling (docs/console.md) ----

# Failed sign-ins counted per client IP, per (account, IP), per account and per
# (account, email), as typed: the account and address need not exist, so the counts tell
# nobody which accounts or addresses are real. Not owned by an account (a typed slug may
# name none), hence no account_id; rows are forgotten after SCIMGATE_LOGIN_WINDOW_SECONDS.
signin_throttle = Table(
    "signin_throttle",
    metadata,
    Column("key", String(64), primary_key=True),  # SHA-256 of "scope\nvalue"
    Column("scope", String(16), nullable=False),  # ip | account_ip | account | email
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", DateTime(timezone=True), nullable=False),
    Index(None, "last_failure_at"),
)

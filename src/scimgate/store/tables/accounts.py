"""Accounts and who may act for them: the account row, its SCIM Secret Token and /api/v1 keys, console admins, their sessions and sign-in throttling, and setup links."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    true,
)

from scimgate.store.tables.metadata import Id, metadata

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
    # Events older than this many days are pruned, oldest first; the last one pruned.
    # (Server defaults only: inserts leave them out, as code that predates them did.)
    Column("event_retention_days", Integer, nullable=False, server_default="90"),
    Column("event_pruned_seq", BigInteger, nullable=False, server_default="0"),
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

# A time-limited link an account admin gives the customer's IT admin (docs/console.md): the
# link's token is stored only as its SHA-256 hash; it opens this account's guided setup pages.
setup_link = Table(
    "setup_link",
    metadata,
    Column("account_id", Id, nullable=False),
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("link_hash", String(64), nullable=False),  # SHA-256 of the link's token
    Column("prefix", String(16), nullable=False),
    Column("note", String(255), nullable=False, default=""),
    Column("created_by", String(320), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
    Column("revoked_by", String(320)),
    ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
    UniqueConstraint("link_hash"),
    Index(None, "account_id", "id"),
)

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
)
from sqlalchemy.dialects.postgresql import JSONB

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
    Column("member_type", String(8), nullable=False),  # "User" or "Group"
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
    ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
    Index(None, "account_id", "id"),
    Index(None, "account_id", "at"),
)

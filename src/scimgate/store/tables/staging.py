"""The staging directory: Users and Groups as the identity provider sent them, their e-mails, memberships and counts."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)

from scimgate.store.tables.metadata import Document, Id, metadata

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

"""The product side: members, their Properties and values, the attribute mapping, teams (docs/sync.md)."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    text,
)

from scimgate.store.tables.metadata import Document, Id, metadata

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
    # Its attribute in the account's SCIM extension: chosen at creation, kept through renames.
    Column("scim_name", String(64)),
    PrimaryKeyConstraint("account_id", "id"),
    ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
    UniqueConstraint("account_id", "name_key"),
    Index(None, "account_id", "scim_name", unique=True),
    # SCIM attribute names ignore case (RFC 7643 2.1): the database refuses a case variant.
    Index(
        "ix_member_property_account_id_scim_name_ci",
        "account_id",
        text("lower(scim_name)"),
        unique=True,
    ),
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


# "Members of directory group G get Property P = V" (docs/sync.md, Group rules). Keyed by
# the group's id: a rename in the identity provider keeps the rule; `group_name` is the
# name last seen, shown once the group is gone from staging. Lower priority wins; on a
# tie, the older rule (lower id).
group_rule = Table(
    "group_rule",
    metadata,
    Column("account_id", Id, nullable=False),
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("group_id", String(64), nullable=False),
    Column("group_name", String(512), nullable=False),
    Column("property_id", String(36), nullable=False),
    Column("value", Document, nullable=False),  # as the Property stores it
    Column("priority", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
    ForeignKeyConstraint(
        ["account_id", "property_id"],
        ["member_property.account_id", "member_property.id"],
        ondelete="CASCADE",
    ),
    UniqueConstraint("account_id", "group_id", "property_id"),
    Index(None, "account_id", "property_id"),
)

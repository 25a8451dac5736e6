"""What each account's SCIM clients showed of themselves: one row per habit (docs/scim.md,
"Who is calling"), added to by every server process from its in-memory counts."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKeyConstraint,
    PrimaryKeyConstraint,
    String,
    Table,
)

from scimgate.store.tables.metadata import Id, metadata

client_habit = Table(
    "client_habit",
    metadata,
    Column("account_id", Id, nullable=False),
    Column("habit", String(40), nullable=False),  # a code of scim/client_habits.HABITS
    Column("count", BigInteger, nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("sample", String(200)),  # the User-Agent, for the habits that name the client
    PrimaryKeyConstraint("account_id", "habit"),
    ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
)

"""Synchronize runs and what each did to every member and team (docs/sync.md)."""

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
    Text,
    text,
)

from scimgate.states import RunStatus
from scimgate.store.tables.metadata import Document, Id, metadata

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
    # The errors a run recorded, by directory user (the drift report's "failed" reason):
    # partial, so it holds the few error items, not the row per user every run writes.
    Index(
        None,
        "account_id",
        "run_id",
        "directory_id",
        sqlite_where=text("error IS NOT NULL"),
        postgresql_where=text("error IS NOT NULL"),
    ),
)

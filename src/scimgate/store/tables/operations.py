"""What happened, for operators and hosts: request logs, the Event outbox and its webhook deliveries, the audit log."""

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
    Text,
    false,
    text,
)

from scimgate.store.tables.metadata import Document, Id, metadata

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
    # A bulk redelivery of its dead letters is running until then (one at a time).
    Column("redelivering_until", DateTime(timezone=True)),
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
    # The attempt that used up the retries (a dead letter), until the event is delivered.
    Column("dead", Boolean, nullable=False, default=False, server_default=false()),
    ForeignKeyConstraint(["account_id"], ["account.id"], ondelete="CASCADE"),
    ForeignKeyConstraint(["endpoint_id"], ["webhook_endpoint.id"], ondelete="CASCADE"),
    Index(None, "account_id", "endpoint_id", "id"),
    Index(None, "account_id", "event_seq"),  # the deliveries of pruned events
    # The dead letters of an endpoint, without walking its whole delivery log.
    Index(
        "ix_webhook_delivery_dead",
        "account_id",
        "endpoint_id",
        "id",
        sqlite_where=text("dead = 1"),
        postgresql_where=text("dead"),
    ),
)


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

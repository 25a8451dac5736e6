"""The audit log: who changed an account's configuration, written with the change."""

from scimgate.audit.actions import AuditAction
from scimgate.audit.service import (
    EVENT_TYPE,
    SCHEDULER,
    api_key_actor,
    cli_actor,
    console_actor,
    list_page,
    local_actor,
    record,
    setup_link_actor,
)

__all__ = [
    "EVENT_TYPE",
    "SCHEDULER",
    "AuditAction",
    "api_key_actor",
    "cli_actor",
    "console_actor",
    "list_page",
    "local_actor",
    "record",
    "setup_link_actor",
]

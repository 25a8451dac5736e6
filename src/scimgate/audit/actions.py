"""What an audit entry records as its `action` (a StrEnum: equal to the stored strings)."""

from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    """One kind of configuration change, named `<thing>.<what happened>`."""

    ACCOUNT_CREATED = "account.created"
    ACCOUNT_ENTITLED = "account.entitled"
    PROVISIONING_ACTIVATED = "provisioning.activated"
    PROVISIONING_DEACTIVATED = "provisioning.deactivated"
    TOKEN_ISSUED = "token.issued"
    TOKEN_REVOKED = "token.revoked"
    API_KEY_CREATED = "api_key.created"
    API_KEY_REVOKED = "api_key.revoked"
    SETUP_LINK_CREATED = "setup_link.created"
    SETUP_LINK_REVOKED = "setup_link.revoked"
    SETUP_LINK_OPENED = "setup_link.opened"
    SETUP_LINK_REQUEST_VIEWED = "setup_link.request_viewed"
    WEBHOOK_ADDED = "webhook.added"
    WEBHOOK_REMOVED = "webhook.removed"
    WEBHOOK_RESUMED = "webhook.resumed"
    EVENT_RETENTION_CHANGED = "event_retention.changed"
    MAPPING_SET = "mapping.set"
    MAPPING_REMOVED = "mapping.removed"
    GROUP_RULE_ADDED = "group_rule.added"
    GROUP_RULE_CHANGED = "group_rule.changed"
    GROUP_RULE_REMOVED = "group_rule.removed"
    PROPERTY_CREATED = "property.created"
    PROPERTY_RENAMED = "property.renamed"
    PROPERTY_ATTRIBUTE_RENAMED = "property.attribute_renamed"
    PROPERTY_OPTIONS_CHANGED = "property.options_changed"
    PROPERTY_DELETED = "property.deleted"
    ADMIN_CREATED = "admin.created"
    ADMIN_PASSWORD_RESET = "admin.password_reset"
    ADMIN_PASSWORD_CHANGED = "admin.password_changed"
    ADMIN_SESSION_REVOKED = "admin.session_revoked"
    ADMIN_SESSIONS_REVOKED = "admin.sessions_revoked"
    SYNC_SETTINGS_CHANGED = "sync_settings.changed"
    SYNC_RUN_STARTED = "sync_run.started"
    SYNC_RUN_CONFIRMED = "sync_run.confirmed"

"""Accounts, the enterprise entitlement, and their credentials (provisioning tokens, API keys)."""

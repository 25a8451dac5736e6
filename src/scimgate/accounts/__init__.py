"""Accounts, the enterprise entitlement, and provisioning tokens."""

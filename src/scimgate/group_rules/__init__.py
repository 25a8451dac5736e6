"""Group rules: members of an identity-provider group get a Property value (docs/sync.md)."""

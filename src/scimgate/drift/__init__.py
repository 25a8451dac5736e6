"""The drift report: where the product's members and the identity provider disagree (docs/sync.md)."""

"""Attribute mapping: SCIM attribute paths onto member fields and typed Properties."""

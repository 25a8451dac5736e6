"""The SCIM 2.0 protocol layer: pure functions over JSON-shaped data, no I/O, no framework.

It wraps a pinned scim2-models for the data model, the filter and path grammar and
the schema documents, and adds what that library does not do for us: PATCH applied to
stored JSON documents (with group members kept out of the document), and the named
tolerances Microsoft Entra ID and Okta need.
"""

"""scimgate: open, self-hostable, multi-tenant SCIM 2.0 user provisioning."""

__version__ = "0.1.0"

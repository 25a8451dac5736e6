"""HTTP shell: the ASGI app, /scim/v2 handlers, error translation and request logging."""

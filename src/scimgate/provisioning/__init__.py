"""Use-cases behind /scim/v2: create, read, search, replace, patch and delete Users and Groups."""

"""Running the service: whether the database answers, at which schema, and its figures."""

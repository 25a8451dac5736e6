"""Storage: SQLAlchemy 2 tables, engines, filter-to-SQL and account-scoped repositories."""

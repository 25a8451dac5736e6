"""Field and parameter types several /api/v1 resources share."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Query
from pydantic import AfterValidator

from scimgate.timestamps import as_utc

# Times are UTC with an offset (SQLite hands them back naive, PostgreSQL in its zone).
Time = Annotated[datetime, AfterValidator(lambda v: as_utc(v).astimezone(UTC))]

Cursor = Annotated[str | None, Query(max_length=64, description="next_cursor of the previous page")]
Limit = Annotated[int, Query(ge=1, le=200)]

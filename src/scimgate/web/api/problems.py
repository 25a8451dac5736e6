"""RFC 9457 problem documents, and the OpenAPI document that promises them."""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from starlette.responses import JSONResponse, Response

PROBLEM = "application/problem+json"


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None
    # A cursor too old (410): the oldest `after` still served, and where to start again.
    oldest_after: int | None = None
    snapshot: str | None = None


# What every route may answer besides its own responses.
EVERY_ROUTE: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Missing, unknown or revoked API key"},
    400: {"model": Problem, "description": "Invalid input"},
}


class ApiError(Exception):
    """A problem answered as is (401 and friends)."""

    def __init__(self, status: int, title: str, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.title, self.detail, self.headers = status, title, detail, headers


def problem(
    status: int, title: str, detail: str | None, request: Request, **extra: Any
) -> Response:
    body = Problem(title=title, status=status, detail=detail, instance=request.url.path, **extra)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM)


def openapi_document(api: FastAPI) -> dict[str, Any]:
    """FastAPI's document, told the truth: invalid input is a 400 problem (never 422), and
    every error is served as application/problem+json."""
    if api.openapi_schema:
        return api.openapi_schema
    doc = get_openapi(
        title=api.title, version=api.version, description=api.description, routes=api.routes
    )
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for path in doc.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses.setdefault(
                "400",
                {"description": "Invalid input", "content": {PROBLEM: {"schema": problem_ref}}},
            )
            responses.setdefault(
                "401",
                {
                    "description": "Missing, unknown or revoked API key",
                    "content": {PROBLEM: {"schema": problem_ref}},
                },
            )
            for status, response in responses.items():
                content = response.get("content") or {}
                if status[:1] in ("4", "5") and "application/json" in content:
                    content[PROBLEM] = content.pop("application/json")
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    api.openapi_schema = doc
    return doc

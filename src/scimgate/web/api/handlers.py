"""The /api/v1 exception handlers: every error a problem document, its status from the one
table (web/status_table.py)."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from scimgate.errors import BusyError, CursorTooOldError, ServiceError, StorageError
from scimgate.web.api.deps import api_context, caller
from scimgate.web.api.problems import ApiError, problem
from scimgate.web.db_threads import retry_after
from scimgate.web.status_table import answer_for

log = logging.getLogger("scimgate.api")


def install_handlers(api: FastAPI) -> None:
    """Every error as a problem document: ours, the domain's, FastAPI's and Starlette's."""

    @api.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        response = problem(exc.status, exc.title, exc.detail, request)
        response.headers.update(exc.headers or {})
        return response

    @api.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> Response:
        answer = answer_for(exc)
        extra: dict[str, object] = {"type": answer.problem_type}
        if isinstance(exc, CursorTooOldError):  # where to start again
            snapshot = request.scope.get("root_path", "") + "/snapshot"
            extra.update(oldest_after=exc.oldest_after, snapshot=snapshot)
        response = problem(answer.status, answer.title, exc.detail, request, **extra)
        if isinstance(exc, BusyError):
            response.headers.update(retry_after(exc.retry_after))
        return response

    @api.exception_handler(StorageError)
    async def _unavailable(request: Request, exc: StorageError) -> Response:
        # an outage is one log line, not a traceback each
        failure = api_context(request).outage.classify(exc)
        answer = answer_for(exc)
        response = problem(answer.status, answer.title, failure.detail, request)
        response.headers.update(retry_after(failure.retry_seconds))
        return response

    @api.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        # FastAPI reads the body before the key is checked: a stranger still gets 401.
        try:
            await run_in_threadpool(caller, request, api_context(request))
        except ApiError as denied:
            return await _api_error(request, denied)
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid"}
        detail = f"{'.'.join(first['loc'][1:]) or 'request'}: {first['msg']}"
        return problem(400, "Bad Request", detail, request, errors=errors)

    @api.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        response = problem(exc.status_code, str(exc.detail), None, request)
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # Allow lists every route of this path, not just the first
            path = request.scope["path"][len(request.scope.get("root_path", "")) :]
            allowed = sorted(
                {
                    method
                    for route in api.routes
                    if isinstance(route, APIRoute) and route.path_regex.match(path)
                    for method in route.methods
                }
            )
            response.headers["Allow"] = ", ".join(allowed)
        return response

    @api.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "Internal Server Error", None, request)

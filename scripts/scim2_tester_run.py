#!/usr/bin/env python3
"""Run the scim2-tester conformance suite against a running SCIM server.

Usage::

    python scripts/scim2_tester_run.py --url http://127.0.0.1:8000/scim/v2 --token TOKEN

Prints one line per check result (``PASS``/``WARN``/``FAIL``/``SKIP``, the check
name prefixed by its resource type, and the reason), then, as the very last
line, ``N passed, M failed`` (followed by ``, K skipped`` when some were
skipped). Exits 1 when any check failed (an unreachable server fails the
discovery checks), 2 on a usage error.

``--trace`` prints, under each failing check, the HTTP exchanges scim2-tester
made for it (request line, request body, response status and body).
``--json FILE`` writes every result with its exchanges to FILE.

scim2-client only ships an engine for ``httpx2``; this script brings its own
engine over ``httpx`` (a test dependency of the project) so nothing else is
needed.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import httpx
from scim2_client import BaseSyncSCIMClient
from scim2_client.errors import RequestNetworkException
from scim2_tester import CheckResult
from scim2_tester import Status
from scim2_tester import check_server
from scim2_tester import utils as tester_utils

PASSING = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE}
WARNING = {Status.DEVIATION}  # SHOULD-level deviation, within spec bounds
FAILING = {Status.ERROR, Status.CRITICAL}


# --------------------------------------------------------------------------- #
# HTTP engine
# --------------------------------------------------------------------------- #
@dataclass
class Exchange:
    method: str
    url: str
    request_body: str | None
    status: int | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "url": self.url,
            "request_body": self.request_body,
            "status": self.status,
            "response_headers": self.response_headers,
            "response_body": self.response_body,
            "error": self.error,
        }


class HttpxSCIMClient(BaseSyncSCIMClient):
    """scim2-client engine over a plain :class:`httpx.Client`.

    Mirrors scim2_client.engines.httpx2.SyncSCIMClient, and records every
    exchange through :data:`RECORDER`.
    """

    def __init__(self, client: httpx.Client, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client = client

    def _stays_under_base_url(self, endpoint: str) -> bool:
        base_url = self.client.base_url
        if not base_url.is_absolute_url:
            return False
        try:
            url = self.client.build_request("GET", endpoint).url
        except httpx.InvalidURL:
            return False
        return (
            url.scheme == base_url.scheme
            and url.netloc == base_url.netloc
            and (url.raw_path.startswith(base_url.raw_path))
        )

    def _parse_json(self, response: Any) -> Any:
        return response.json()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        request = self.client.build_request(method, url, **kwargs)
        body = request.content.decode("utf-8", "replace") if request.content else None
        exchange = Exchange(method=request.method, url=str(request.url), request_body=body)
        RECORDER.record(exchange)
        try:
            response = self.client.send(request)
        except httpx.RequestError as exc:
            exchange.error = f"{type(exc).__name__}: {exc}"
            scim_exc = RequestNetworkException()
            scim_exc.add_note(str(exc))
            raise scim_exc from exc
        exchange.status = response.status_code
        exchange.response_headers = {
            k: v
            for k, v in response.headers.items()
            if k.lower() in ("content-type", "etag", "location")
        }
        exchange.response_body = response.text
        return response


# --------------------------------------------------------------------------- #
# Attribution of HTTP exchanges to check results
# --------------------------------------------------------------------------- #
# Every scim2-tester check is wrapped by the inner ``wrapped`` function of
# scim2_tester.utils.checker. The innermost such frame on the stack identifies
# the running check invocation, both when a request is sent and when a
# CheckResult is built. A result gets the exchanges made in its invocation
# since the previous result of that invocation.
_WRAPPED_CODE_FILE = tester_utils.__file__


class _Invocation:
    def __init__(self, frame: types.FrameType) -> None:
        self.frame = frame  # kept alive so that id() is not reused
        self.exchanges: list[Exchange] = []
        self.cursor = 0


class Recorder:
    def __init__(self) -> None:
        self.invocations: dict[int, _Invocation] = {}
        self.result_exchanges: dict[int, list[Exchange]] = {}
        self.orphans: list[Exchange] = []

    @staticmethod
    def _checker_frame() -> types.FrameType | None:
        frame = sys._getframe(2)
        while frame is not None:
            code = frame.f_code
            if code.co_name == "wrapped" and code.co_filename == _WRAPPED_CODE_FILE:
                return frame
            frame = frame.f_back
        return None

    def _invocation(self, frame: types.FrameType) -> _Invocation:
        inv = self.invocations.get(id(frame))
        if inv is None or inv.frame is not frame:
            inv = self.invocations[id(frame)] = _Invocation(frame)
        return inv

    def record(self, exchange: Exchange) -> None:
        frame = self._checker_frame()
        if frame is None:
            self.orphans.append(exchange)
            return
        self._invocation(frame).exchanges.append(exchange)

    def on_result(self, result: CheckResult) -> None:
        frame = self._checker_frame()
        if frame is None:
            return
        inv = self._invocation(frame)
        self.result_exchanges[id(result)] = inv.exchanges[inv.cursor :]
        inv.cursor = len(inv.exchanges)

    def exchanges_for(self, result: CheckResult) -> list[Exchange]:
        return self.result_exchanges.get(id(result), [])


RECORDER = Recorder()

_original_result_init = CheckResult.__init__


def _recording_result_init(self: CheckResult, *args: Any, **kwargs: Any) -> None:
    _original_result_init(self, *args, **kwargs)
    RECORDER.on_result(self)


CheckResult.__init__ = _recording_result_init  # type: ignore[method-assign]


# --------------------------------------------------------------------------- #
# Reporting
# --------------------------------------------------------------------------- #
def _label(status: Status) -> str:
    if status in PASSING:
        return "PASS"
    if status in WARNING:
        return "WARN"
    if status in FAILING:
        return "FAIL"
    return "SKIP"


def _name(result: CheckResult) -> str:
    title = result.title or "?"
    return f"{result.resource_type}/{title}" if result.resource_type else title


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _clip(text: str | None, limit: int) -> str:
    if text is None:
        return ""
    if limit and len(text) > limit:
        return text[:limit] + f"... [{len(text) - limit} more chars]"
    return text


def _error_detail(result: CheckResult) -> str | None:
    """Notes and causes of the exception a failing result carries, if any.

    scim2-client puts the pydantic validation message of a rejected response
    payload in the notes of the exception, which the reason does not show.
    """
    data = result.data
    exc = data if isinstance(data, BaseException) else None
    if exc is None and isinstance(data, dict) and isinstance(data.get("error"), BaseException):
        exc = data["error"]
    parts: list[str] = []
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        for note in getattr(exc, "__notes__", None) or []:
            if note not in parts:
                parts.append(note)
        exc = exc.__cause__ or exc.__context__
        if exc is not None and str(exc) not in parts:
            parts.append(f"caused by {type(exc).__name__}: {exc}")
    return "\n".join(parts) or None


def _print_exchanges(exchanges: list[Exchange], limit: int) -> None:
    if not exchanges:
        print("      (no HTTP exchange recorded for this result)")
    for ex in exchanges:
        print(f"      > {ex.method} {ex.url}")
        if ex.request_body:
            print(f"        {_clip(ex.request_body, limit)}")
        if ex.error:
            print(f"      < network error: {ex.error}")
            continue
        ctype = ex.response_headers.get("content-type", "")
        print(f"      < {ex.status} {ctype}")
        if ex.response_body:
            print(f"        {_clip(ex.response_body, limit)}")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):
        try:
            return obj.model_dump(mode="json")
        except Exception:
            pass
    return repr(obj)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--url", required=True, help="SCIM base URL, e.g. http://127.0.0.1:8000/scim/v2"
    )
    parser.add_argument("--token", help="bearer token sent as 'Authorization: Bearer TOKEN'")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout (s)")
    parser.add_argument(
        "--resource-type",
        action="append",
        dest="resource_types",
        metavar="NAME",
        help="only test this resource type (repeatable), e.g. User",
    )
    parser.add_argument(
        "--include-tag", action="append", metavar="TAG", help="only run checks with this tag"
    )
    parser.add_argument(
        "--exclude-tag", action="append", metavar="TAG", help="skip checks with this tag"
    )
    parser.add_argument(
        "--trace", action="store_true", help="print the HTTP exchanges of failing checks"
    )
    parser.add_argument(
        "--trace-all", action="store_true", help="print the HTTP exchanges of every check"
    )
    parser.add_argument(
        "--body-limit", type=int, default=1500, help="clip bodies in traces (0: no limit)"
    )
    parser.add_argument(
        "--strict", action="store_true", help="count DEVIATION (WARN) results as failures"
    )
    parser.add_argument(
        "--json", dest="json_path", metavar="FILE", help="write all results and exchanges"
    )
    args = parser.parse_args(argv)

    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    base_url = args.url.rstrip("/")
    http = httpx.Client(base_url=base_url, headers=headers, timeout=args.timeout)
    client = HttpxSCIMClient(http)

    try:
        results = check_server(
            client,
            include_tags=set(args.include_tag) if args.include_tag else None,
            exclude_tags=set(args.exclude_tag) if args.exclude_tag else None,
            resource_types=args.resource_types,
        )
    except Exception as exc:  # the suite itself crashed: report, count as a failure
        print(f"FAIL  scim2-tester crashed: {type(exc).__name__}: {_one_line(str(exc))}")
        print("0 passed, 1 failed")
        return 1
    finally:
        http.close()

    failing = FAILING | (WARNING if args.strict else set())
    passed = failed = skipped = 0
    for result in results:
        label = _label(result.status)
        if result.status in failing:
            failed += 1
            label = "FAIL"
        elif result.status == Status.SKIPPED:
            skipped += 1
        else:
            passed += 1
        line = f"{label}  {_name(result)}"
        if result.reason:
            line += f": {_one_line(result.reason)}"
        print(line)
        if args.trace_all or (args.trace and result.status in failing):
            detail = _error_detail(result)
            if detail:
                for detail_line in detail.splitlines():
                    print(f"      ! {detail_line}")
            _print_exchanges(RECORDER.exchanges_for(result), args.body_limit)

    if args.json_path:
        dump = [
            {
                "name": _name(result),
                "status": result.status.name,
                "reason": result.reason,
                "data": result.data,
                "detail": _error_detail(result),
                "exchanges": [ex.to_dict() for ex in RECORDER.exchanges_for(result)],
            }
            for result in results
        ]
        with open(args.json_path, "w") as fh:
            json.dump(dump, fh, indent=2, default=_json_default)

    if not results:
        failed += 1
        print("FAIL  scim2-tester returned no result")

    summary = f"{passed} passed, {failed} failed"
    if skipped:
        summary += f", {skipped} skipped"
    print(summary)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

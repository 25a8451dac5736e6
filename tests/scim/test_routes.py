"""The /scim/v2 dispatcher: methods, paths, HEAD, 405 and 404, all as SCIM answers."""

from __future__ import annotations

import io
from typing import Any

import pytest

from scimgate.web.access_log import AccessLog
from tests.helpers.scim import user_body

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def test_each_method_reaches_its_handler(scim: Any) -> None:
    created = scim.post("/Users", json=user_body())
    assert created.status_code == 201
    uid = created.json()["id"]
    assert scim.get(f"/Users/{uid}").json()["id"] == uid
    assert scim.get("/Users").json()["totalResults"] == 1
    assert scim.post("/Users/.search", json={}).json()["totalResults"] == 1
    assert scim.request("HEAD", f"/Users/{uid}").status_code == 200
    assert scim.delete(f"/Users/{uid}").status_code == 204


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("DELETE", "/Users", 405),  # a known path with another method
        ("PUT", "/Schemas", 405),
        ("GET", "/Users/.search", 404),  # read as /Users/{id}: no such user
        ("GET", "/Nope", 404),
        ("GET", "", 404),
        ("GET", "/Bulk", 405),
        ("POST", "/Bulk", 400),  # schemas without the BulkRequest URN
        ("PATCH", "/Me", 501),
    ],
)
def test_other_methods_and_paths_are_scim_errors(
    scim: Any, method: str, path: str, status: int
) -> None:
    body = {"json": {"schemas": []}} if method in ("POST", "PATCH") else {}
    response = scim.request(method, path, **body)
    assert response.status_code == status
    assert response.json()["schemas"] == [ERROR]
    assert response.json()["status"] == str(status)


def test_unknown_path_needs_the_token_first(http: Any) -> None:
    response = http.get("/scim/v2/Nope")
    assert response.status_code == 401
    assert response.json()["schemas"] == [ERROR]


def test_path_parameters_take_one_segment_or_the_rest(scim: Any) -> None:
    urn = "urn:ietf:params:scim:schemas:core:2.0:User"
    assert scim.get(f"/Schemas/{urn}").json()["id"] == urn
    assert scim.get("/ResourceTypes/User").json()["id"] == "User"
    assert scim.get("/ResourceTypes/User/extra").status_code == 404


def test_access_log_writes_batches_and_escapes_control_characters() -> None:
    stream = io.StringIO()
    access = AccessLog(stream=stream)
    access.add("method=GET path=/a status=200")
    access.add("method=GET path=/b status=200")
    assert stream.getvalue().count("\n") == 2  # no running loop: written at once
    lines = stream.getvalue().splitlines()
    assert all(" INFO scimgate.access method=GET" in line for line in lines)


def test_access_log_line_cannot_be_forged_with_a_newline(scim: Any, capsys: Any) -> None:
    scim.get("/Users/x%0A2026-01-01 INFO forged")
    err = capsys.readouterr().err
    assert "\n2026-01-01 INFO forged" not in err

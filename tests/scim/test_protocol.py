"""RFC 7644 behaviour of /scim/v2 that is not specific to one IdP."""

import pytest

from tests.helpers.scim import assert_error, user_body


def test_create_returns_location_etag_and_meta(scim):
    r = scim.post("/Users", json=user_body())
    assert r.status_code == 201
    body = r.json()
    assert r.headers["location"] == f"https://scim.example.test/scim/v2/Users/{body['id']}"
    assert r.headers["etag"] == body["meta"]["version"] == 'W/"1"'
    assert body["meta"]["resourceType"] == "User"
    assert body["meta"]["location"] == r.headers["location"]
    assert body["meta"]["created"].endswith("Z")


def test_put_replaces_and_keeps_id(scim):
    uid = scim.post("/Users", json=user_body()).json()["id"]
    r = scim.put(f"/Users/{uid}", json=user_body("new@example.com", displayName="New", title="T"))
    assert r.status_code == 200
    assert (
        r.json()["id"] == uid
        and r.json()["userName"] == "new@example.com"
        and r.json()["title"] == "T"
    )
    assert r.json()["meta"]["version"] == 'W/"2"'


def test_etags(scim):
    """§3.14: If-Match stale → 412; If-None-Match current → 304."""
    uid = scim.post("/Users", json=user_body()).json()["id"]
    assert scim.get(f"/Users/{uid}", headers={"If-None-Match": 'W/"1"'}).status_code == 304
    op = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "title", "value": "x"}],
    }
    assert_error(scim.patch(f"/Users/{uid}", json=op, headers={"If-Match": 'W/"7"'}), 412)
    assert scim.patch(f"/Users/{uid}", json=op, headers={"If-Match": 'W/"1"'}).status_code == 200
    assert_error(scim.delete(f"/Users/{uid}", headers={"If-Match": 'W/"1"'}), 412)


def test_noop_patch_changes_neither_version_nor_last_modified(scim):
    created = scim.post("/Users", json=user_body()).json()
    op = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "active", "value": "True"}],
    }
    after = scim.patch(f"/Users/{created['id']}", json=op).json()
    assert after["meta"]["version"] == created["meta"]["version"]
    assert after["meta"]["lastModified"] == created["meta"]["lastModified"]


def test_duplicate_username_is_409_case_insensitively(scim):
    assert scim.post("/Users", json=user_body("Dup@Example.com")).status_code == 201
    assert_error(scim.post("/Users", json=user_body("dup@example.COM")), 409, "uniqueness")


def test_rename_onto_taken_username_is_409(scim):
    scim.post("/Users", json=user_body("a@x.com"))
    uid = scim.post("/Users", json=user_body("b@x.com")).json()["id"]
    op = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "userName", "value": "A@X.com"}],
    }
    assert_error(scim.patch(f"/Users/{uid}", json=op), 409, "uniqueness")


@pytest.mark.parametrize(
    "content, content_type, status, scim_type",
    [
        (b"{not json", "application/scim+json", 400, "invalidSyntax"),
        (b"", "application/scim+json", 400, "invalidSyntax"),
        (b"[1,2]", "application/scim+json", 400, "invalidSyntax"),
        (b'{"userName": 5}', "application/scim+json", 400, "invalidValue"),
        (b'{"displayName": "no userName"}', "application/json", 400, "invalidValue"),
        (b'{"userName": "x", "active": "perhaps"}', "application/json", 400, "invalidValue"),
        (b'{"userName": "x", "emails": "nope"}', "application/json", 400, "invalidValue"),
        (b'{"userName": "x", "name": "flat"}', "application/json", 400, "invalidValue"),
        (b'{"userName": "x"}', "text/plain", 415, None),
        (b'{"userName": "' + b"x" * 70000 + b'"}', "application/json", 400, "invalidValue"),
        (b"[" * 50 + b"]" * 50, "application/json", 400, "invalidSyntax"),
    ],
)
def test_bad_bodies(scim, content, content_type, status, scim_type):
    assert_error(
        scim.post("/Users", content=content, headers={"Content-Type": content_type}),
        status,
        scim_type,
    )


def test_body_over_limit_is_413(scim):
    assert_error(
        scim.post("/Users", content=b'{"userName":"' + b"x" * (1024 * 1024 + 10) + b'"}'), 413
    )


@pytest.mark.parametrize("path", ["/Users/nope", "/Groups/nope", "/Nope", "/Users/x/y"])
def test_unknown_ids_and_paths_are_scim_404(scim, path):
    assert_error(scim.get(path), 404)


@pytest.mark.parametrize(
    "method, path",
    [
        ("PUT", "/Users"),
        ("DELETE", "/Groups"),
        ("PATCH", "/Schemas"),
        ("POST", "/ServiceProviderConfig"),
    ],
)
def test_unsupported_methods_are_scim_405(scim, method, path):
    assert_error(scim.request(method, path, json={}), 405)
    assert_error(scim.request(method, path), 405)
    assert_error(scim.request(method, path, content=b"not json"), 405)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Bearer nope",
        "Basic dXNlcjpwYXNz",
        "Bearer sgp_" + "A" * 43,
        "bearer " + "x" * 5000,
    ],
)
def test_bad_tokens_are_401_with_www_authenticate(http, header):
    headers = {"Authorization": header} if header else {}
    r = http.get("/scim/v2/Users", headers=headers)
    assert_error(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_revoked_token_and_deactivated_account(scim, engine):
    from scimgate.accounts import service
    from scimgate.store import accounts as store

    assert scim.get("/Users").status_code == 200
    with engine.begin() as conn:
        account = store.get_account(conn, scim.slug)
        tokens = store.list_tokens(conn, account["id"])
        spare = service.issue_token(conn, account["id"], name="rotation")
        service.revoke_token(conn, scim.account_id, tokens[0]["id"])
    assert_error(scim.get("/Users"), 401)
    scim.token = spare.token
    assert scim.get("/Users").status_code == 200, "a second token stays live during rotation"
    with engine.begin() as conn:
        service.deactivate_provisioning(conn, scim.account_id)
    assert_error(scim.get("/Users"), 401)


def test_a_token_revoked_after_use_is_refused_by_every_method_and_writes_nothing(scim, engine):
    """Reads and writes by id check the token inside their first read on PostgreSQL (the
    token authenticated moments ago): revocation still takes effect on the next request,
    before anything is read back or written, and a missing id is not told apart."""
    from scimgate.accounts import service
    from scimgate.store import accounts as store

    uid = scim.post("/Users", json=user_body()).json()["id"]
    gid = scim.post("/Groups", json={"displayName": "G", "members": [{"value": uid}]}).json()["id"]
    assert scim.get(f"/Users/{uid}").status_code == 200
    assert scim.get(f"/Groups/{gid}").status_code == 200
    with engine.begin() as conn:
        account = store.get_account(conn, scim.slug)
        (live,) = store.list_tokens(conn, account["id"])
        spare = service.issue_token(conn, account["id"], name="rotation")
        service.revoke_token(conn, scim.account_id, live["id"])
    rename = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "displayName", "value": "Changed"}],
    }
    for path in (f"/Users/{uid}", f"/Groups/{gid}", "/Users/not-there"):
        assert_error(scim.get(path), 401)
        assert_error(scim.patch(path, json=rename), 401)
        assert_error(scim.delete(path), 401)
    assert_error(scim.put(f"/Users/{uid}", json=user_body(displayName="Changed")), 401)
    assert_error(scim.post("/Users", json=user_body("new@example.com")), 401)
    scim.token = spare.token
    assert scim.get(f"/Users/{uid}").json()["displayName"] == "Barbara Jensen"
    group = scim.get(f"/Groups/{gid}").json()
    assert group["displayName"] == "G" and [m["value"] for m in group["members"]] == [uid]
    assert scim.get("/Users").json()["totalResults"] == 1


def test_token_last_used_is_recorded_without_a_write_per_request(scim, engine):
    from scimgate.store import accounts as store

    for _ in range(3):
        scim.get("/Users")
    with engine.begin() as conn:
        account = store.get_account(conn, scim.slug)
        (token,) = store.list_tokens(conn, account["id"])
    assert token["last_used_at"] is not None


def test_me_is_501(scim):
    assert_error(scim.get("/Me"), 501)


def test_attributes_and_excluded_attributes(scim):
    uid = scim.post("/Users", json=user_body(title="Boss")).json()["id"]
    r = scim.get(f"/Users/{uid}", params={"attributes": "userName,name.givenName"}).json()
    assert set(r) == {"schemas", "id", "userName", "name"}
    assert r["name"] == {"givenName": "Barbara"}
    r = scim.get(f"/Users/{uid}", params={"excludedAttributes": "emails,name,id"}).json()
    assert "emails" not in r and "name" not in r and r["id"] == uid
    r = scim.get(
        "/Users",
        params={
            "attributes": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
        },
    ).json()
    assert set(r["Resources"][0]) == {"schemas", "id"}


def test_discovery(scim):
    spc = scim.get("/ServiceProviderConfig").json()
    assert spc["patch"]["supported"] and spc["filter"]["supported"] and spc["etag"]["supported"]
    assert spc["bulk"]["supported"]
    rts = scim.get("/ResourceTypes").json()
    assert {r["id"] for r in rts["Resources"]} == {"User", "Group"}
    assert (
        scim.get("/ResourceTypes/User")
        .json()["schemaExtensions"][0]["schema"]
        .endswith("enterprise:2.0:User")
    )
    schemas = scim.get("/Schemas").json()
    assert schemas["totalResults"] == 4  # User, Group, EnterpriseUser, the account extension
    user = scim.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").json()
    assert any(a["name"] == "userName" and a["uniqueness"] == "server" for a in user["attributes"])
    assert_error(scim.get("/Schemas/urn:nope"), 404)


def test_request_log_records_outcome_and_ignored_without_secrets(scim, app, engine):
    from sqlalchemy import select

    from scimgate.store.tables.operations import request_log

    body = user_body()
    body["schemas"][1] = "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"
    body["password"] = "hunter2"
    scim.post("/Users", json=body)
    scim.get("/Users", params={"filter": "userName eq", "token": scim.token})
    app.state.request_log.flush()
    with engine.begin() as conn:
        rows = conn.execute(select(request_log).order_by(request_log.c.id)).mappings().all()
    assert [(r["method"], r["status"]) for r in rows] == [("POST", 201), ("GET", 400)]
    assert "2.0User" in rows[0]["ignored"] and "password" in rows[0]["ignored"]
    assert rows[1]["scim_type"] == "invalidFilter"
    dumped = " ".join(str(dict(r)) for r in rows)
    assert scim.token not in dumped and "hunter2" not in dumped


def test_request_log_is_bounded(engine, scim):
    from sqlalchemy import func, select

    from scimgate.store.database import utcnow
    from scimgate.store.tables.operations import request_log
    from scimgate.web.request_log import RequestLogBuffer

    buffer = RequestLogBuffer(engine, max_rows=5, max_days=30, flush_seconds=1)
    for i in range(12):
        buffer.add(
            {
                "account_id": scim.account_id,
                "at": utcnow(),
                "method": "GET",
                "path": f"/p{i}",
                "query": "",
                "status": 200,
                "duration_ms": 1,
            }
        )
    buffer.flush()
    buffer.prune()
    with engine.begin() as conn:
        assert conn.execute(select(func.count()).select_from(request_log)).scalar_one() == 5


def test_an_idle_accounts_old_entries_are_pruned_and_max_rows_0_keeps_none(engine, scim, other):
    """Age is not only checked for accounts written to lately: a process sweeps every
    account when it starts and hourly; an account nobody writes to loses its old entries."""
    from datetime import timedelta

    from sqlalchemy import func, insert, select

    from scimgate.store.database import utcnow
    from scimgate.store.tables.operations import request_log
    from scimgate.web.request_log import RequestLogBuffer

    def entry(account_id, days_ago):
        at = utcnow() - timedelta(days=days_ago)
        return {"account_id": account_id, "at": at, "method": "GET", "path": "/Users",
                "query": "", "status": 200, "duration_ms": 1}  # fmt: skip

    def kept(account_id):
        with engine.begin() as conn:
            where = request_log.c.account_id == account_id
            return conn.execute(select(func.count()).where(where)).scalar_one()

    with engine.begin() as conn:  # written by an earlier process: nobody writes to them now
        conn.execute(insert(request_log), [entry(scim.account_id, 40), entry(scim.account_id, 1)])
        conn.execute(insert(request_log), [entry(other.account_id, 2)])
    buffer = RequestLogBuffer(engine, max_rows=100, max_days=30, flush_seconds=1)
    buffer.prune()  # its first prune sweeps every account
    assert (kept(scim.account_id), kept(other.account_id)) == (1, 1)

    off = RequestLogBuffer(engine, max_rows=0, max_days=30, flush_seconds=1)
    off.prune()
    assert (kept(scim.account_id), kept(other.account_id)) == (0, 0), "the log is off: none kept"


def test_total_results_follows_creates_deletes_and_failed_creates(scim, other):
    ids = [scim.post("/Users", json=user_body(f"t{i}@x.com")).json()["id"] for i in range(3)]
    assert scim.post("/Users", json=user_body("t0@x.com")).status_code == 409
    other.post("/Users", json=user_body("elsewhere@x.com"))
    scim.delete(f"/Users/{ids[0]}")
    scim.delete(f"/Users/{ids[0]}")
    assert scim.get("/Users", params={"count": 0}).json()["totalResults"] == 2
    assert scim.get("/Users", params={"count": 1}).json()["totalResults"] == 2
    assert other.get("/Users", params={"count": 0}).json()["totalResults"] == 1
    scim.post("/Groups", json={"displayName": "g"})
    assert scim.get("/Groups", params={"count": 0}).json()["totalResults"] == 1


@pytest.mark.parametrize("path", ["/scim/v2//Users", "/scim/v2/Users/", "/scim/v2//Users/"])
def test_tenant_url_with_trailing_slash_still_works(scim, path):
    """Admins paste `https://host/scim/v2/`; Entra then calls `{TenantURL}/Users` = `/scim/v2//Users`."""
    r = scim.http.get(
        path,
        params={"filter": 'userName eq "nobody"'},
        headers={"Authorization": f"Bearer {scim.token}"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["totalResults"] == 0


def test_urn_qualified_manager_object_in_post_is_the_manager(scim):
    """`"urn:…:enterprise:2.0:User:manager": {"value": id}` at top level is one attribute, not an extension."""
    ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    boss = scim.post("/Users", json=user_body("boss@x.com")).json()["id"]
    body = user_body("worker@x.com", **{f"{ent}:manager": {"value": boss}})
    created = scim.post("/Users", json=body).json()
    assert created[ent]["manager"] == {"value": boss}
    assert f"{ent}:manager" not in created


def test_nul_characters_are_a_400_not_a_500(scim):
    """PostgreSQL text cannot hold NUL; hypothesis found `userName eq "\\u0000"` gave a 500 there.
    SQLite could hold it: refused on both, so both databases give the same answer."""
    r = scim.get("/Users", params={"filter": 'userName eq "\\u0000"'})
    assert r.status_code == 400 and r.json()["scimType"] == "invalidFilter", r.text
    r = scim.post("/Users", json=user_body("nul\u0000@x.com"))
    assert r.status_code == 400 and r.json()["scimType"] == "invalidValue", r.text
    r = scim.post("/Users", json=user_body("ok@x.com", title="a\u0000b"))
    assert r.status_code == 400 and r.json()["scimType"] == "invalidValue", r.text
    assert scim.get("/Users").json()["totalResults"] == 0


def test_a_bad_body_without_a_valid_token_is_401_not_a_parse_error(http):
    for headers in ({}, {"Authorization": "Bearer sgp_nope"}):
        r = http.post(
            "/scim/v2/Users",
            content=b"{not json",
            headers={"Content-Type": "application/scim+json", **headers},
        )
        assert r.status_code == 401, headers
        assert r.json()["status"] == "401"

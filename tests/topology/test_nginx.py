"""The production topology: nginx terminating TLS in front of `scimgate serve --workers 2`.

nginx serves deploy/nginx/scimgate.conf (the config docs/deploy.md quotes) with only its
ports and certificate paths replaced, under a main config of the test's own (prefix, pid,
logs and temporary files in a temp dir, in the foreground, stopped by the test). The
certificate is self-signed, made at run time with the `openssl` command line. scimgate
runs on the suite's database: its PostgreSQL when SCIMGATE_TEST_DATABASE_URL is set, a
SQLite file otherwise (two workers on SQLite are supported: test_sqlite_workers.py).

Through nginx over https: the CLI's Tenant URL, an Entra ID provisioning sequence with
its `Location` headers and `meta.location`, the console's Secure cookies and Tenant URL,
concurrent writes served by both workers; and X-Forwarded-* believed from nginx only.

Without /usr/sbin/nginx the module is skipped, unless SCIMGATE_REQUIRE_NGINX=1 (CI).
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from typer.testing import CliRunner

from scimgate.cli import app as cli_app
from tests.helpers.databases import PG_URL
from tests.helpers.ports import free_port
from tests.helpers.workers import (
    Backend,
    new_account,
    serve_env,
    serve_workers,
    served_database,
    stop,
    wait_for,
)
from tests.topology.writes import check_nothing_lost, concurrent_writes

pytestmark = pytest.mark.process

NGINX = "/usr/sbin/nginx"
SITE = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "scimgate.conf"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
MS_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
PASSWORD = "correct horse battery staple"
OUTSIDER = "127.0.0.3"  # a loopback address that is not the proxy's (nginx connects from 127.0.0.1)

# Read at import: the suite's autouse fixture clears SCIMGATE_* before every test.
REQUIRE_NGINX = os.environ.get("SCIMGATE_REQUIRE_NGINX") == "1"


def _tools_or_skip() -> None:
    """nginx and openssl, or a skip (a failure when SCIMGATE_REQUIRE_NGINX=1, as in CI)."""
    found = {NGINX: os.access(NGINX, os.X_OK), "openssl": bool(shutil.which("openssl"))}
    missing = ", ".join(name for name, ok in found.items() if not ok)
    if not missing:
        return
    if REQUIRE_NGINX:
        pytest.fail(f"{missing} missing and SCIMGATE_REQUIRE_NGINX=1", pytrace=False)
    pytest.skip(
        f"{missing} missing (apt-get install nginx openssl; SCIMGATE_REQUIRE_NGINX=1 fails instead)"
    )


MAIN_CONF = """\
daemon off;
master_process on;
worker_processes 1;
{user}pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/scimgate.conf;
}}
"""


def render_site(template: str, replacements: dict[str, str]) -> str:
    """deploy/nginx/scimgate.conf with each literal replaced; each must occur exactly once,
    so a changed template fails here instead of serving something else."""
    for literal, value in replacements.items():
        assert template.count(literal) == 1, f"{literal!r} should occur once in {SITE}"
        template = template.replace(literal, value)
    return template


def self_signed(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "fullchain.pem", tmp / "privkey.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


@dataclass
class Topology:
    base: str  # https://127.0.0.1:PORT, nginx
    plain: str  # http://127.0.0.1:PORT, nginx's redirect to https
    backend: Backend
    database_url: str
    cli_env: dict[str, str]
    verify: ssl.SSLContext
    tmp: Path

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(
            base_url=self.base, verify=self.verify, timeout=60, trust_env=False, **kw
        )

    def nginx_log(self) -> str:
        path = self.tmp / "error.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def cli(topology: Topology, *args: str, stdin: str | None = None) -> str:
    """`scimgate ARGS` (in process) with the served instance's settings; its stdout."""
    result = CliRunner().invoke(cli_app, list(args), env=topology.cli_env, input=stdin)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


@pytest.fixture(scope="module")
def topology(
    _template_db: Path | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Topology]:
    _tools_or_skip()
    tmp = tmp_path_factory.mktemp("topology")
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / sub).mkdir()
    database_url = served_database(tmp, _template_db, PG_URL)
    cert, key = self_signed(tmp)
    tls_port, plain_port = free_port(), free_port()
    base = f"https://127.0.0.1:{tls_port}"
    verify = ssl.create_default_context(cafile=str(cert))
    with serve_workers(
        database_url,
        tmp,
        public_url=base,
        workers=2,
        SCIMGATE_ENVIRONMENT="production",
        SCIMGATE_SECRET_KEY=os.urandom(32).hex(),
    ) as backend:
        site = render_site(
            SITE.read_text(),
            {
                "server 127.0.0.1:8000;": f"server 127.0.0.1:{backend.port};",
                "listen 443 ssl;": f"listen 127.0.0.1:{tls_port} ssl;",
                "listen 80;": f"listen 127.0.0.1:{plain_port};",
                "/etc/ssl/scimgate/fullchain.pem": str(cert),
                "/etc/ssl/scimgate/privkey.pem": str(key),
            },
        )
        (tmp / "scimgate.conf").write_text(site)
        # A root master would hand its workers to `nobody`, who cannot use the temp dir.
        user = f"user {pwd.getpwuid(os.getuid()).pw_name};\n" if os.geteuid() == 0 else ""
        (tmp / "nginx.conf").write_text(MAIN_CONF.format(tmp=tmp, user=user))
        log = tmp / "nginx.out"
        with log.open("wb") as out:
            nginx = subprocess.Popen(
                [
                    NGINX,
                    "-p",
                    str(tmp),
                    "-c",
                    str(tmp / "nginx.conf"),
                    "-e",
                    str(tmp / "error.log"),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_for(
                lambda: (
                    httpx.get(
                        base + "/livez", verify=verify, timeout=5, trust_env=False
                    ).status_code
                    == 200
                ),
                "nginx",
                nginx,
                tmp / "error.log",
            )
            cli_env = serve_env(database_url, base)
            yield Topology(
                base, f"http://127.0.0.1:{plain_port}", backend, database_url, cli_env, verify, tmp
            )
        finally:
            stop(nginx)


@pytest.fixture(scope="module")
def account(topology: Topology) -> dict[str, str]:
    """An account made as an operator makes one: with the CLI, whose printed values are used."""
    slug = "topo-" + os.urandom(4).hex()
    cli(topology, "account", "create", slug, "--name", "Topology Inc", "--entitled")
    activated = json.loads(cli(topology, "provisioning", "activate", slug, "--json"))
    email = f"it@{slug}.example"
    said = cli(topology, "admin", "create", slug, email, "--password-stdin", stdin=PASSWORD + "\n")
    return {"slug": slug, "email": email, "said": said, **activated}


# -- the tests ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_cli_prints_the_https_tenant_url_of_the_proxy(
    topology: Topology, account: dict[str, str]
) -> None:
    assert account["tenant_url"] == topology.base + "/scim/v2"
    assert f"{topology.base}/console/login?account={account['slug']}" in account["said"]


def test_entra_provisioning_sequence_through_nginx(
    topology: Topology, account: dict[str, str]
) -> None:
    tenant = account["tenant_url"]
    headers = {
        "Authorization": f"Bearer {account['token']}",
        "Content-Type": "application/scim+json",
    }
    with httpx.Client(verify=topology.verify, timeout=60, trust_env=False, headers=headers) as c:

        def scim(method: str, path: str, status: int, **kw: Any) -> Any:
            r = c.request(method, tenant + path, **kw)
            assert r.status_code == status, (method, path, r.status_code, r.text)
            if r.content:
                assert r.headers["content-type"].startswith("application/scim+json")
                return r.json()
            return r

        def where(resource: dict[str, Any], kind: str) -> str:
            expected = f"{tenant}/{kind}/{resource['id']}"
            assert resource["meta"]["location"] == expected, resource["meta"]
            return expected

        # Test Connection, then the lookup before a create (matching on externalId).
        object_id = "0a21f0f2-8d2a-4f8e-bf98-" + os.urandom(6).hex()
        found = scim("GET", "/Users?filter=" + quote(f'externalId eq "{object_id}"'), 200)
        assert found["schemas"] == [LIST] and found["totalResults"] == 0
        user = {
            "schemas": [CORE_USER, ENT],
            "externalId": object_id,
            "userName": "Test_User_00aa00aa@testuser.com",
            "active": True,
            "emails": [
                {"primary": True, "type": "work", "value": "Test_User_00aa00aa@testuser.com"}
            ],
            "meta": {"resourceType": "User"},
            "name": {
                "formatted": "givenName familyName",
                "familyName": "familyName",
                "givenName": "givenName",
            },
            "roles": [],
        }
        r = c.post(tenant + "/Users", json=user)
        assert r.status_code == 201, r.text
        created = r.json()
        assert r.headers["location"] == where(created, "Users")
        uid = created["id"]
        second = scim(
            "POST",
            "/Users",
            201,
            json=user | {"externalId": object_id + "-2", "userName": "second@testuser.com"},
        )
        where(second, "Users")
        # The lookup again (unquoted, as Entra's own example writes it): found.
        found = scim("GET", f"/Users?filter=externalId+eq+{object_id}", 200)
        assert [u["id"] for u in found["Resources"]] == [uid]
        where(found["Resources"][0], "Users")

        # Update: capitalised ops, a "False" string, a value path, the enterprise extension.
        ops = [
            {"op": "Replace", "path": "displayName", "value": "Pvlo"},
            {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "pvlo@testuser.com"},
            {"op": "Add", "path": f"{ENT}:department", "value": "Sales"},
            {"op": "Replace", "path": "active", "value": "False"},
        ]
        r = c.patch(tenant + f"/Users/{uid}", json={"schemas": [PATCH_OP], "Operations": ops})
        assert r.status_code in (200, 204), r.text
        patched = scim("GET", f"/Users/{uid}", 200)
        assert patched["active"] is False and patched["displayName"] == "Pvlo"
        assert patched[ENT]["department"] == "Sales"
        where(patched, "Users")

        # Groups: lookup, create (Microsoft's extra schema URI), members added and removed by value.
        group_id_ext = "8aa1a0c0-c4c3-4bc0-b4a5-" + os.urandom(6).hex()
        found = scim(
            "GET",
            "/Groups?excludedAttributes=members&filter=" + quote(f'externalId eq "{group_id_ext}"'),
            200,
        )
        assert found["totalResults"] == 0
        group = {
            "schemas": [CORE_GROUP, MS_GROUP],
            "externalId": group_id_ext,
            "displayName": "Sales",
            "meta": {"resourceType": "Group"},
        }
        r = c.post(tenant + "/Groups", json=group)
        assert r.status_code == 201, r.text
        gid = r.json()["id"]
        assert r.headers["location"] == where(r.json(), "Groups")
        add = {"op": "Add", "path": "members", "value": [{"value": uid}, {"value": second["id"]}]}
        r = c.patch(tenant + f"/Groups/{gid}", json={"schemas": [PATCH_OP], "Operations": [add]})
        assert r.status_code in (200, 204), r.text
        full = scim("GET", f"/Groups/{gid}", 200)
        assert sorted(m["value"] for m in full["members"]) == sorted([uid, second["id"]])
        for member in full["members"]:
            if "$ref" in member:
                assert member["$ref"] == f"{tenant}/Users/{member['value']}"
        remove = {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": uid}]}
        r = c.patch(tenant + f"/Groups/{gid}", json={"schemas": [PATCH_OP], "Operations": [remove]})
        assert r.status_code in (200, 204), r.text
        slim = scim("GET", f"/Groups/{gid}?excludedAttributes=members", 200)
        assert "members" not in slim
        where(slim, "Groups")
        member_of = scim(
            "GET",
            "/Groups?excludedAttributes=members&filter="
            + quote(f'id eq "{gid}" and members[value eq "{second["id"]}"]'),
            200,
        )
        assert [g["id"] for g in member_of["Resources"]] == [gid]

        # Discovery documents say https too.
        config = scim("GET", "/ServiceProviderConfig", 200)
        assert config["meta"]["location"] == f"{tenant}/ServiceProviderConfig"

        # Delete; then it is gone.
        r = c.delete(tenant + f"/Users/{uid}")
        assert r.status_code == 204, r.text
        scim("GET", f"/Users/{uid}", 404)
        r = c.delete(tenant + f"/Groups/{gid}")
        assert r.status_code == 204, r.text


def test_console_over_https_sets_secure_cookies_and_shows_the_https_tenant_url(
    topology: Topology, account: dict[str, str]
) -> None:
    with topology.client() as browser:
        page = browser.get(f"/console/login?account={account['slug']}")
        assert page.status_code == 200
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf, page.text[:500]
        r = browser.post(
            "/console/login",
            data={
                "account": account["slug"],
                "email": account["email"],
                "password": PASSWORD,
                "csrf_token": csrf.group(1),
            },
            headers={"Origin": topology.base},
        )
        assert r.status_code == 303, r.text
        cookies = r.headers.get_list("set-cookie") + page.headers.get_list("set-cookie")
        assert cookies
        for cookie in cookies:
            attributes = [part.strip().lower() for part in cookie.split(";")]
            assert "secure" in attributes, cookie
            assert "httponly" in attributes, cookie
        location = r.headers["location"]
        assert location.startswith(("/", topology.base)), location
        page = browser.get("/console/provisioning")
        assert page.status_code == 200, page.text[:500]
        assert account["tenant_url"] in page.text
        assert "http://" + topology.base.split("://", 1)[1] not in page.text


def test_forwarded_headers_are_believed_from_the_proxy_only(topology: Topology) -> None:
    """/metrics answers only 127.0.0.1 (its default allow list): it shows which client
    address scimgate believed."""
    outsider = httpx.HTTPTransport(local_address=OUTSIDER, verify=topology.verify)
    spoof = {"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "https"}
    with topology.client() as mine:
        # Through nginx from 127.0.0.1: nginx says so, and scimgate believes it.
        assert mine.get("/metrics").status_code == 200
    with httpx.Client(base_url=topology.base, transport=outsider, timeout=60) as there:
        # Through nginx from another address: nginx's X-Forwarded-For is believed ...
        assert there.get("/metrics").status_code == 404
        # ... and what the client wrote itself stays to the left, unread.
        assert there.get("/metrics", headers=spoof).status_code == 404
    direct = httpx.HTTPTransport(local_address=OUTSIDER)
    with httpx.Client(base_url=topology.backend.base, transport=direct, timeout=60) as there:
        # Straight to scimgate's port from an address that is not the proxy: not believed.
        r = there.get("/metrics", headers=spoof)
        assert r.status_code == 404, r.text


def test_plain_http_is_redirected_to_https(topology: Topology) -> None:
    r = httpx.get(topology.plain + "/scim/v2/Users", trust_env=False, timeout=30)
    assert r.status_code == 301
    assert r.headers["location"].startswith("https://127.0.0.1/scim/v2/Users")


def test_both_workers_serve_concurrent_writes_through_nginx(topology: Topology) -> None:
    backend = topology.backend
    workers = backend.worker_pids()
    assert len(workers) == 2, workers
    slug, token = new_account(topology.database_url, "nginx-writes")
    tenant = topology.base + "/scim/v2"
    outcome, group_id = concurrent_writes(
        tenant, token, clients=6, users_each=5, prefix=slug, verify=topology.verify
    )
    check_nothing_lost(tenant, token, outcome, group_id, expected_users=30, verify=topology.verify)
    # nginx keeps its upstream connections; the kernel gave them to both workers.
    assert backend.until_every_worker_served() >= workers, backend.pids_that_counted_requests()
    assert backend.worker_pids() == workers  # nobody died on the way


def test_nginx_logged_no_errors(topology: Topology) -> None:
    errors = [
        line for line in topology.nginx_log().splitlines() if "[error]" in line or "[crit]" in line
    ]
    assert not errors, errors

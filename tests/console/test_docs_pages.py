"""The guides served at /docs: every allow-listed page renders, nothing else is reachable,
and every link the console and the pages make to them lands on a page and an anchor."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from typer.testing import CliRunner

from scimgate.cli import app as cli_app
from scimgate.settings import Settings
from scimgate.web import docs_views
from scimgate.web.console.endpoint import TEMPLATES
from scimgate.web.docs_views import DOCS_DIR, IMAGES, PAGES, docs_mount, load_page, render_markdown

ROOT = Path(__file__).resolve().parents[2]
_DOC_LINK = re.compile(r'href="(/docs/[^"]*)"')
_ANY_HREF = re.compile(r'href="([^"]*)"')


@pytest.fixture
def client(app: Any) -> Any:
    with TestClient(app, base_url="https://testserver") as http:
        yield http


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_renders(client: Any, name: str) -> None:
    """Each page answers 200 with its own title as the heading, in the console's style."""
    r = client.get(f"/docs/{name}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    title = load_page(DOCS_DIR, name).title
    assert title and f"<title>{_escaped(title)} · scimgate</title>" in r.text
    assert re.search(r"<h1 id=\"[^\"]+\">", r.text)
    assert "/console/static/console.css" in r.text
    assert "http://" not in _hrefs(r.text, lambda h: h.startswith("/console/static"))


def test_index_lists_every_page(client: Any) -> None:
    r = client.get("/docs/")
    assert r.status_code == 200
    listed = {h[len("/docs/") :] for h in _DOC_LINK.findall(r.text)} - {""}
    assert listed == set(PAGES)


def test_a_repository_link_with_md_lands_on_the_page(client: Any) -> None:
    """`docs/api.md` pasted from the repository works too."""
    assert client.get("/docs/api.md").status_code == 200
    assert client.get("/docs/idp/okta.md").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/docs/nothing",
        "/docs/README",
        "/docs/idp",
        "/docs/idp/",
        "/docs/idp/entra.txt",
        "/docs/..%2f..%2fpyproject.toml",
        "/docs/%2e%2e/%2e%2e/pyproject.toml",
        "/docs/idp/%2e%2e/%2e%2e/README",
        "/docs/..%5c..%5cpyproject.toml",
        "/docs/%2fetc%2fpasswd",
        "/docs/api%00",
        "/docs/API",
        "/docs/web/docs_views.py",
    ],
)
def test_unknown_names_and_traversal_are_404(client: Any, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert "There is no such guide." in r.text or r.headers["content-type"].startswith("text/plain")
    assert "[project]" not in r.text and "root:" not in r.text


def test_only_get_and_head(client: Any) -> None:
    assert client.head("/docs/sync").status_code == 200
    assert client.post("/docs/sync").status_code == 405


def test_screenshots_are_served(client: Any) -> None:
    for image in IMAGES:
        r = client.get(f"/docs/{image}")
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert r.content.startswith(b"\x89PNG")


def test_raw_html_and_script_links_are_never_rendered() -> None:
    """The renderer escapes HTML in a page and refuses javascript: links."""
    doc = render_markdown(
        "# T\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n\n"
        "[a](javascript:alert(1)) [b](../../../etc/passwd) [c](sync.md#attribute-mapping)",
        "api",
    )
    assert "<script" not in doc.html and "<img" not in doc.html
    assert "&lt;script&gt;" in doc.html
    assert "javascript:" not in _hrefs(doc.html)
    assert 'href="/docs/sync#attribute-mapping"' in doc.html
    assert "etc/passwd" not in _hrefs(doc.html)  # an unserved file is text, not a link


def test_heading_anchors_follow_github() -> None:
    """Anchors as GitHub makes them, so links written for the repository work here."""
    doc = render_markdown("# A b\n## 2. Deadlines, and (more)\n## A b\n## `x_y` z", "api")
    assert doc.anchors == {"a-b", "2-deadlines-and-more", "a-b-1", "x_y-z"}


def test_console_templates_link_to_served_pages() -> None:
    """Every /docs link in the console's templates names a page and an anchor it has;
    the provisioning and integrations pages do link to the guides."""
    links: dict[str, list[str]] = {}
    for template in sorted(TEMPLATES.glob("*.html")):
        links[template.name] = _DOC_LINK.findall(template.read_text())
    assert any("/docs/idp/okta" in h for h in links["provisioning.html"])
    assert any(h.startswith("/docs/api") for h in links["integrations.html"])
    for template, hrefs in links.items():
        for href in hrefs:
            if "{{" in href:  # docs.html's own list (test_index_lists_every_page)
                continue
            assert _resolves(href), f"{template}: {href} leads nowhere"
    for template in TEMPLATES.glob("*.html"):
        assert "docs/api.md" not in template.read_text(), template.name  # a repository path


def test_links_between_pages_resolve() -> None:
    """Every link a served page makes to another (or to itself) finds its page and anchor."""
    checked = 0
    for name in PAGES:
        html = load_page(DOCS_DIR, name).html
        for found in _ANY_HREF.findall(html):
            href = f"/docs/{name}{found}" if found.startswith("#") else found
            if href.startswith("/docs/"):
                assert _resolves(href), f"{name}: {href} leads nowhere"
                checked += 1
    assert checked > 20


def test_idp_guides_are_linked_from_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in PAGES:
        if name.startswith("idp/"):
            assert f"(docs/{name}.md)" in readme, name


def test_pages_ship_with_the_package() -> None:
    """The pages are package data (scimgate/docs links to docs/), so an installed
    scimgate serves them too."""
    assert Path(docs_views.__file__).resolve().parent.parent / "docs" == DOCS_DIR
    assert DOCS_DIR.resolve() == (ROOT / "docs").resolve()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["scimgate"]
    assert "markdown-it-py" in " ".join(config["project"]["dependencies"])
    for file in [*PAGES.values(), *IMAGES]:
        assert any(fnmatch.fnmatch(f"docs/{file}", p) for p in patterns), file
        assert (DOCS_DIR / file).is_file(), file
    assert "docs.html" in {t.name for t in TEMPLATES.glob("*.html")}


def test_an_installation_without_the_pages_says_so(tmp_path: Path) -> None:
    """Built without its docs, the route explains instead of failing."""
    app = Starlette(routes=[docs_mount(Settings(), docs_dir=tmp_path)])
    with TestClient(app) as http:
        for path in ("/docs/", "/docs/sync"):
            r = http.get(path)
            assert r.status_code == 404
            assert "This installation has no" in r.text and "docs/ directory" in r.text


def test_a_page_edited_on_disk_is_shown_without_a_restart(tmp_path: Path) -> None:
    (tmp_path / "sync.md").write_text("# First\n")
    assert load_page(tmp_path, "sync").title == "First"
    (tmp_path / "sync.md").write_text("# Second, longer\n")
    assert load_page(tmp_path, "sync").title == "Second, longer"


# ---- the commands the pages show run as written ---------------------------------------


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("SCIMGATE_DATABASE_URL", database_url)
    runner = CliRunner()
    return lambda *args: runner.invoke(cli_app, list(args))


def test_sync_md_mapping_commands_work_on_a_new_account(cli: Any) -> None:
    """docs/sync.md's mapping sequence runs as written on a new account; its custom
    extension example fails as the page says it does."""
    assert cli("account", "create", "acme", "--entitled").exit_code == 0
    assert cli("provisioning", "activate", "acme").exit_code == 0
    text = (ROOT / "docs" / "sync.md").read_text()
    works, refused = _sh_blocks(text, "On a new account")[:2]
    for args in _commands(works):
        r = cli(*args)
        assert r.exit_code == 0, f"{shlex.join(args)}: {r.stderr}"
    *setup, mapping = _commands(refused)
    for args in setup:
        assert cli(*args).exit_code == 0
    r = cli(*mapping)
    assert r.exit_code == 1
    shown = " ".join(line.lstrip("# ") for line in refused.splitlines() if line.startswith("#"))
    assert " ".join(r.stderr.split()) == shown


def test_api_md_examples_work_on_a_fresh_demo(cli: Any, app: Any) -> None:
    """docs/api.md's manual member and PATCH examples answer as documented on `scimgate
    demo`, with the Properties the page makes first."""
    assert cli("demo", "--no-serve").exit_code == 0
    block = _sh_blocks((ROOT / "docs" / "api.md").read_text(), "ACCOUNT=demo")[0]
    account = re.search(r"ACCOUNT=(\S+)", block).group(1)
    for args in _commands(block.replace("$ACCOUNT", account)):
        if args[:2] == ["property", "create"]:
            assert cli(*args).exit_code == 0, args
    created = json.loads(cli("apikey", "create", account, "--json").stdout)
    bodies = [json.loads(b) for b in re.findall(r"-d '(\{.*?\})'", block, re.DOTALL)]
    post = next(b for b in bodies if "email" in b)
    patch = next(b for b in bodies if "Start date" in json.dumps(b))
    documented = re.search(r'# -> \{…, "properties": (\{[^}]*\})', block).group(1)
    auth = {"Authorization": f"Bearer {created['key']}"}
    with TestClient(app, base_url="https://testserver") as http:
        r = http.post("/api/v1/members", json=post, headers=auth)
        assert r.status_code == 201, r.text
        r = http.patch(f"/api/v1/members/{r.json()['id']}", json=patch, headers=auth)
        assert r.status_code == 200, r.text
        assert r.json()["properties"] == json.loads(documented)


@pytest.mark.slow
@pytest.mark.process
def test_readme_example_runs_as_written(tmp_path: Path) -> None:
    """README's command-line example, `serve` aside, runs in a fresh directory under
    `bash -eu`: no variable it uses is left unset, and every command succeeds."""
    block = _sh_blocks((ROOT / "README.md").read_text(), "--json` prints exactly one")[0]
    script = "\n".join(line for line in block.splitlines() if "scimgate serve" not in line)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env = {k: v for k, v in env.items() if not k.startswith("SCIMGATE_")}
    r = subprocess.run(
        ["bash", "-eu", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    password = re.search(r"console password of it@acme.example: (\S+)", r.stdout).group(1)
    assert len(password) >= 12
    assert "created admin it@acme.example" in r.stdout


def _sh_blocks(text: str, after: str) -> list[str]:
    """The ```sh blocks of a page that hold or follow the first `after`."""
    at = text.index(after)
    blocks = re.finditer(r"```sh\n(.*?)```", text, re.DOTALL)
    return [m.group(1) for m in blocks if m.end() > at]


def _commands(block: str) -> list[list[str]]:
    """Each `scimgate ...` line of a block as arguments (comments dropped)."""
    lines = [line for line in block.splitlines() if line.startswith("scimgate ")]
    return [shlex.split(line, comments=True)[1:] for line in lines]


def _resolves(href: str) -> bool:
    """A /docs/NAME#ANCHOR link names a served page and, if given, one of its anchors."""
    path, _, anchor = href.partition("#")
    name = path[len("/docs/") :]
    if name in ("", *IMAGES):
        return not anchor
    if name not in PAGES:
        return False
    return not anchor or anchor in load_page(DOCS_DIR, name).anchors


def _hrefs(html: str, keep: Any = None) -> str:
    return " ".join(h for h in _ANY_HREF.findall(html) if keep is None or keep(h))


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

"""The guides served by the app itself at /docs: the repository's docs/*.md pages as HTML.

A deployment has no repository beside it, so the console's "see the guide" links point
here. Only the pages named in PAGES (and the images in IMAGES) are served: a URL never
names a file, so no path can leave the directory. Markdown is rendered with raw HTML
turned off (whatever HTML a page holds is shown as text), links between pages are
rewritten to /docs/..., and the console's stylesheet is used: nothing comes from elsewhere.
The pages ship inside the package (`scimgate/docs`, a link to docs/ in the repository).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Mount, Route

from scimgate.settings import Settings
from scimgate.web.console.endpoint import SECURITY_HEADERS, Page, Renderer

DOCS_DIR = Path(__file__).resolve().parent.parent / "docs"
PREFIX = "/docs"

# The pages served, in the order the index lists them: URL name -> file under DOCS_DIR.
PAGES: dict[str, str] = {
    "console": "console.md",
    "idp/README": "idp/README.md",
    "idp/entra": "idp/entra.md",
    "idp/okta": "idp/okta.md",
    "idp/google-workspace": "idp/google-workspace.md",
    "idp/onelogin": "idp/onelogin.md",
    "idp/jumpcloud": "idp/jumpcloud.md",
    "sync": "sync.md",
    "scim": "scim.md",
    "api": "api.md",
    "operations": "operations.md",
    "deploy": "deploy.md",
}
IMAGES = ("console-provisioning.png", "console-synchronize.png")
_FILE_TO_PAGE = {file: name for name, file in PAGES.items()}
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_NOT_SLUG = re.compile(r"[^\w\- ]", re.UNICODE)


@dataclass(frozen=True)
class DocPage:
    """One rendered page: its title (the first heading) and body HTML."""

    name: str
    title: str
    html: str
    anchors: frozenset[str]


class DocsMissingError(Exception):
    """The package was installed without its documentation."""


def docs_mount(settings: Settings, docs_dir: Path = DOCS_DIR) -> Mount:
    """GET /docs/ (the index), /docs/{page} and /docs/{image}: public and read-only."""
    renderer = Renderer(settings)

    async def index(request: Request) -> Response:
        return await run_in_threadpool(_index, renderer, request, docs_dir)

    async def page(request: Request) -> Response:
        name = request.path_params["name"]
        if name in IMAGES:
            return _image(docs_dir, name)
        return await run_in_threadpool(_page, renderer, request, docs_dir, name)

    return Mount(
        PREFIX,
        routes=[
            Route("/", index, methods=["GET", "HEAD"]),
            Route("/{name:path}", page, methods=["GET", "HEAD"]),
        ],
    )


def _index(renderer: Renderer, request: Request, docs_dir: Path) -> Response:
    """The list of pages, each with its title."""
    try:
        pages = [(name, load_page(docs_dir, name).title) for name in PAGES]
    except DocsMissingError as exc:
        return _missing(renderer, request, str(exc))
    return renderer.page(request, Page("docs.html", {"pages": pages, "doc": None}), None)


def _page(renderer: Renderer, request: Request, docs_dir: Path, name: str) -> Response:
    """One page, or 404 for any name not in PAGES."""
    name = name.removesuffix(".md")  # a link copied from the repository: docs/api.md
    if name not in PAGES:
        page = Page("error.html", {"status": 404, "message": "There is no such guide."}, 404)
        return renderer.page(request, page, None)
    try:
        doc = load_page(docs_dir, name)
        pages = [(n, load_page(docs_dir, n).title) for n in PAGES]
    except DocsMissingError as exc:
        return _missing(renderer, request, str(exc))
    return renderer.page(request, Page("docs.html", {"pages": pages, "doc": doc}), None)


def _image(docs_dir: Path, name: str) -> Response:
    """A screenshot the pages show (only the ones in IMAGES)."""
    path = docs_dir / name
    if not path.is_file():
        return Response("Not Found", status_code=404, media_type="text/plain")
    return FileResponse(path, media_type="image/png", headers=SECURITY_HEADERS)


def _missing(renderer: Renderer, request: Request, why: str) -> HTMLResponse:
    """The package was installed without the guides: say so and where they are."""
    message = (
        f"{why} The guides are the docs/ directory of the scimgate repository "
        "(install scimgate from a wheel or a checkout to have them served here)."
    )
    return renderer.page(
        request, Page("error.html", {"status": 404, "message": message}, 404), None
    )


def load_page(docs_dir: Path, name: str) -> DocPage:
    """The page `name` (a key of PAGES) rendered; re-rendered when its file changes.

    Raises:
        DocsMissingError: the file is not there (a package built without its docs).
    """
    path = docs_dir / PAGES[name]
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        raise DocsMissingError(f"This installation has no {PAGES[name]}.") from None
    return _render_cached(str(path), stamp, name)


@lru_cache(maxsize=64)
def _render_cached(path: str, _stamp: int, name: str) -> DocPage:
    """Rendering keyed by the file's modification time: edits show without a restart."""
    return render_markdown(Path(path).read_text(encoding="utf-8"), name)


def render_markdown(text: str, name: str) -> DocPage:
    """Markdown to safe HTML: raw HTML escaped, headings given GitHub's anchors, links
    to other served pages rewritten to /docs/..., links to other repository files kept
    as text (they are not served)."""
    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    env: dict[str, Any] = {}
    tokens = md.parse(text, env)
    anchors = _add_heading_ids(tokens)
    _rewrite_links(tokens, name)
    title = next(
        (tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"),
        name,
    )
    html = md.renderer.render(tokens, md.options, env)
    return DocPage(name=name, title=title, html=html, anchors=frozenset(anchors))


def heading_slug(text: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return _NOT_SLUG.sub("", text.strip().lower()).replace(" ", "-")


def _add_heading_ids(tokens: list[Token]) -> list[str]:
    """An `id` on every heading, numbered on repeats as GitHub does (`x`, `x-1`, ...)."""
    seen: dict[str, int] = {}
    anchors = []
    for i, token in enumerate(tokens):
        if token.type != "heading_open":
            continue
        inline = tokens[i + 1]
        text = "".join(
            c.content for c in inline.children or [] if c.type in ("text", "code_inline")
        )
        slug = heading_slug(text)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchor = slug if count == 0 else f"{slug}-{count}"
        token.attrSet("id", anchor)
        anchors.append(anchor)
    return anchors


def _rewrite_links(tokens: list[Token], name: str) -> None:
    """Relative links resolved from the page's own place in docs/."""
    for token in tokens:
        as_text = False  # the link being closed was turned into plain text
        for child in token.children or []:
            if child.type == "link_open":
                as_text = not _rewrite_link(child, name)
            elif child.type == "link_close" and as_text:
                child.tag, as_text = "span", False
            elif child.type == "image":
                src = str(child.attrGet("src") or "")
                if src in IMAGES:
                    child.attrSet("src", f"{PREFIX}/{src}")


def _rewrite_link(token: Token, name: str) -> bool:
    """One link: to a served page, an anchor on this one, the web; False when it became
    plain text (a file that is not served)."""
    href = str(token.attrGet("href") or "")
    if not href or href.startswith(("#", "/")) or _SCHEME.match(href):
        return True
    target, _, anchor = href.partition("#")
    here = posixpath.dirname(PAGES[name])
    resolved = posixpath.normpath(posixpath.join(here, target))
    fragment = f"#{anchor}" if anchor else ""
    if resolved in _FILE_TO_PAGE:
        token.attrSet("href", f"{PREFIX}/{_FILE_TO_PAGE[resolved]}{fragment}")
        return True
    if resolved in IMAGES:
        token.attrSet("href", f"{PREFIX}/{resolved}")
        return True
    # A file of the repository that is not served (benchmarks/..., deploy/...).
    in_repository = posixpath.normpath(posixpath.join("docs", here, target))
    token.tag = "span"
    token.attrs = {"class": "muted", "title": f"in the scimgate repository: {in_repository}"}
    return False

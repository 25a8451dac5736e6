"""docs/deploy.md quotes the files under deploy/ as they are, and operations.md's nginx
excerpt says nothing the served config (deploy/nginx/scimgate.conf) does not."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
FENCED = re.compile(r"^```[a-z]*\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def blocks(doc: Path) -> list[str]:
    return [block.rstrip("\n") for block in FENCED.findall(doc.read_text())]


def directives(config: str) -> list[str]:
    """nginx directive lines without comments and spacing."""
    lines = (line.split("#", 1)[0].strip() for line in config.splitlines())
    return [" ".join(line.split()) for line in lines if line]


def test_deploy_md_quotes_every_file_under_deploy_verbatim() -> None:
    quoted = blocks(ROOT / "docs" / "deploy.md")
    files = sorted(p for p in DEPLOY.rglob("*") if p.is_file())
    assert files
    for path in files:
        assert path.read_text().rstrip("\n") in quoted, (
            f"docs/deploy.md should quote {path.relative_to(ROOT)} as it is"
        )


def test_operations_md_nginx_excerpt_matches_the_served_config() -> None:
    served = set(directives((DEPLOY / "nginx" / "scimgate.conf").read_text()))
    (excerpt,) = [b for b in blocks(ROOT / "docs" / "operations.md") if "upstream scimgate" in b]
    extra = [line for line in directives(excerpt) if line not in served]
    assert not extra, f"docs/operations.md's nginx block differs from deploy/nginx: {extra}"

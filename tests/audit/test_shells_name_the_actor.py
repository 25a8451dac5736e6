"""The shells (console, API, CLI) always say who is acting: every call they make to an
audited service passes `actor=`, so the services' fallback (the process's OS user) is
only ever used by code that runs in-process on its own (scripts, tests)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "src" / "scimgate"
SHELLS = [*(ROOT / "cli").rglob("*.py"), *(ROOT / "web").rglob("*.py")]

# receiver module alias -> the audited functions called through it
AUDITED = {
    "accounts": {
        "create_account",
        "entitle",
        "issue_token",
        "activate_provisioning",
        "deactivate_provisioning",
        "revoke_token",
    },
    "api_keys": {"create_key", "revoke_key"},
    "webhooks": {"add_endpoint", "remove_endpoint", "resume"},
    "admins": {"create_admin", "reset_password"},
    "members": {"create_property"},
    "properties": {"rename", "update_options", "delete"},
    "mapping": {"set_mapping", "remove_mapping", "update_mappings"},
    "mappings": {"set_mapping", "remove_mapping", "update_mappings"},
    "schedule": {"configure"},
    "background": {"start"},
}


def _calls_without_actor(path: Path, label: str) -> list[str]:
    problems = []
    try:
        source = path.read_text()
    except FileNotFoundError:  # removed since the directory was listed
        return problems
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        keywords = {k.arg for k in node.keywords}
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            audited = AUDITED.get(func.value.id, set())
            if func.attr in audited and "actor" not in keywords:
                problems.append(f"{label}:{node.lineno} {func.value.id}.{func.attr}")
        elif isinstance(func, ast.Name) and func.id == "synchronize":
            dry = any(
                k.arg == "dry_run" and isinstance(k.value, ast.Constant) and k.value.value is True
                for k in node.keywords
            )
            if not dry and "actor" not in keywords:
                problems.append(f"{label}:{node.lineno} synchronize")
    return problems


def test_every_audited_call_from_a_shell_names_its_actor():
    problems = [
        p for path in SHELLS for p in _calls_without_actor(path, str(path.relative_to(ROOT)))
    ]
    assert problems == []


def test_the_check_sees_a_call_without_an_actor(tmp_path):
    """The walk above finds what it looks for (it would pass on any tree otherwise)."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f(conn):\n"
        "    accounts.revoke_token(conn, 7, 1)\n"
        "    accounts.revoke_token(conn, 7, 1, actor='x')\n"
        "    synchronize(engine, 1, dry_run=True)\n"
        "    synchronize(engine, 1)\n"
    )
    assert _calls_without_actor(sample, "sample.py") == [
        "sample.py:2 accounts.revoke_token",
        "sample.py:5 synchronize",
    ]

"""Imports point inward: scim/ is pure; store/ never imports web, cli or domain services."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "src" / "scimgate"

RULES = {
    "scim": {
        "forbidden": [
            "scimgate.store",
            "scimgate.web",
            "scimgate.cli",
            "scimgate.provisioning",
            "scimgate.accounts",
            "sqlalchemy",
            "starlette",
            "fastapi",
        ]
    },
    # Storage sits below every service: persisted state names come from scimgate.states.
    "store": {
        "forbidden": [
            "scimgate.web",
            "scimgate.cli",
            "scimgate.provisioning",
            "scimgate.accounts",
            "scimgate.admins",
            "scimgate.audit",
            "scimgate.group_rules",
            "scimgate.mapping",
            "scimgate.members",
            "scimgate.operations",
            "scimgate.sync",
            "scimgate.webhooks",
            "starlette",
            "fastapi",
        ]
    },
    "provisioning": {"forbidden": ["scimgate.web", "scimgate.cli", "starlette", "fastapi"]},
    "accounts": {"forbidden": ["scimgate.web", "scimgate.cli", "starlette", "fastapi"]},
    "members": {"forbidden": ["scimgate.web", "scimgate.cli", "starlette", "fastapi"]},
    "admins": {"forbidden": ["scimgate.web", "scimgate.cli", "starlette", "fastapi"]},
    "webhooks": {"forbidden": ["scimgate.web", "scimgate.cli", "starlette", "fastapi"]},
    # Every service records into it: it may only reach down, to the store.
    "audit": {
        "forbidden": [
            "scimgate.web",
            "scimgate.cli",
            "scimgate.accounts",
            "scimgate.admins",
            "scimgate.mapping",
            "scimgate.members",
            "scimgate.sync",
            "scimgate.webhooks",
            "starlette",
            "fastapi",
        ]
    },
    # Event types and builders are values: no storage, no shell.
    "events": {
        "forbidden": ["scimgate.store", "scimgate.web", "scimgate.cli", "sqlalchemy", "starlette"]
    },
    "sync": {"forbidden": ["scimgate.web", "scimgate.cli", "starlette", "fastapi"]},
    "drift": {"forbidden": ["scimgate.web", "scimgate.cli", "starlette", "fastapi"]},
    "operations": {"forbidden": ["scimgate.web", "scimgate.cli", "starlette", "fastapi"]},
    "mapping": {
        "forbidden": ["scimgate.web", "scimgate.cli", "scimgate.sync", "starlette", "fastapi"]
    },
    # Rules sit beside the mapping: the sync and members use them, never the other way.
    "group_rules": {
        "forbidden": [
            "scimgate.web",
            "scimgate.cli",
            "scimgate.sync",
            "scimgate.members",
            "starlette",
            "fastapi",
        ]
    },
}

# Mapping paths, coercion and the compiled mapper are pure: the preview and the sync share them.
PURE_MODULES = [
    "mapping/expression.py",
    "mapping/types.py",
    "mapping/mapper.py",
    "mapping/group_rules.py",
    "sync/changes.py",
    "states.py",
    "sync/emails.py",
]


def test_pure_modules_do_no_io():
    problems = []
    for rel in PURE_MODULES:
        for name in imports_of(ROOT / rel):
            if name.split(".")[0] in ("sqlalchemy", "psycopg", "sqlite3") or name.startswith(
                "scimgate.store"
            ):
                problems.append(f"{rel} imports {name}")
    assert problems == []


def test_states_import_nothing_of_scimgate():
    """The persisted state names sit beside all layers: storage and services both import them."""
    assert [n for n in imports_of(ROOT / "states.py") if n.startswith("scimgate")] == []


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_imports_point_inward():
    problems = []
    for package, rule in RULES.items():
        for path in (ROOT / package).rglob("*.py"):
            for name in imports_of(path):
                if any(name == f or name.startswith(f + ".") for f in rule["forbidden"]):
                    problems.append(f"{path.relative_to(ROOT)} imports {name}")
    assert problems == []


def test_no_utils_grab_bags():
    assert not [p for p in ROOT.rglob("*.py") if p.stem in ("utils", "helpers", "misc")]


def test_console_goes_through_services_and_the_store_only():
    """The console is a shell: no raw SQL strings, no tables, nothing from the SCIM handlers."""
    problems = []
    for path in (ROOT / "web" / "console").rglob("*.py"):
        for name in imports_of(path):
            if name.startswith("scimgate.store.tables") or name in (
                "scimgate.store.driver",
                "scimgate.web.scim_api",
            ):
                problems.append(f"{path.relative_to(ROOT)} imports {name}")
    assert problems == []


def test_cli_calls_services_only():
    """The CLI is a shell: no storage module and no database driver, not even for typing
    (driver failures reach it as StorageErrors, raised at the storage edge)."""
    forbidden = ("scimgate.store", "sqlite3", "psycopg", "sqlalchemy")
    problems = []
    for path in (ROOT / "cli").rglob("*.py"):
        for name in imports_of(path) | _names_imported_from_scimgate(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                problems.append(f"{path.relative_to(ROOT)} imports {name}")
    assert problems == []


def _names_imported_from_scimgate(path: Path) -> set[str]:
    """`from scimgate import store` as the module it names: scimgate.store."""
    return {
        f"scimgate.{alias.name}"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module == "scimgate"
        for alias in node.names
    }


# The one narrow exception to "shells call services only": what the ASGI dispatch and the
# SCIM hot path need of the storage layer itself, where a service in between would cost a
# call per request (a lookup is ~0.4 ms of CPU) and adds nothing. Each entry is
# (module, name): the web may import that name from that module, and nothing else.
WEB_STORE_EXCEPTIONS = {
    # Engine lifecycle: the app builds its engines with the request deadlines.
    ("scimgate.store.database", "make_engine"),
    ("scimgate.store.database", "RequestLimits"),
    # Request threads keep one connection each (KeptConnection), SQLite writers queue on
    # one in-process gate (WriteGate), and a request's SQLite work is bounded (deadline).
    ("scimgate.store.database", "KeptConnection"),
    ("scimgate.store.database", "WriteGate"),
    ("scimgate.store.database", "deadline"),
    # The storage edge around a transaction a shell opens (console page, /api/v1 request,
    # a synchronization started from the API): driver failures become domain errors.
    ("scimgate.store.errors", "storage_edge"),
    # The fused token check of the SCIM hot path: made inside the request's first read.
    ("scimgate.store.accounts", "TokenGuard"),
}
DRIVERS = ("sqlite3", "psycopg", "sqlalchemy.exc")


def web_store_imports(path: Path) -> set[tuple[str, str]]:
    """(module, name) of every name the file imports from scimgate.store (name "*" for a
    module imported whole)."""
    found: set[tuple[str, str]] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {(a.name, "*") for a in node.names if a.name.startswith("scimgate.store")}
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "scimgate.store":
                found |= {(f"scimgate.store.{a.name}", "*") for a in node.names}
            elif node.module.startswith("scimgate.store."):
                found |= {(node.module, a.name) for a in node.names}
    return found


def test_web_calls_services_not_the_store():
    """web/ reaches the store only through domain services, but for the listed exceptions;
    driver errors never reach it (the storage edge raises domain errors)."""
    problems = []
    for path in (ROOT / "web").rglob("*.py"):
        rel = str(path.relative_to(ROOT))
        for module, name in web_store_imports(path):
            if (module, name) not in WEB_STORE_EXCEPTIONS:
                problems.append(f"{rel} imports {name} from {module}")
        for name in imports_of(path):
            if any(name == d or name.startswith(d + ".") for d in DRIVERS):
                problems.append(f"{rel} imports {name}")
    assert problems == []

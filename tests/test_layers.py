"""The packages' layering: what each package of app/ may import, checked over every module."""

import ast
import sys
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"

# Package: the app modules it may import. The service (the shell), app.main and the CLI wire
# everything together and are not bound; no package here may import them.
MAY_IMPORT = {
    "app.domain": ("app.domain",),  # pure: no settings, no I/O
    "app.queue": ("app.queue", "app.domain.payloads", "app.storage.db", "app.logs", "app.settings"),
    "app.storage": ("app.storage", "app.domain", "app.migrations", "app.settings"),
    "app.github": ("app.github", "app.domain", "app.storage", "app.queue", "app.settings"),
    "app.web": ("app.web", "app.domain", "app.storage", "app.settings", "app.logs"),
}
UNBOUND = {"app.service", "app.migrations", "app.sandbox"}
# Known crossings, each with why it is harmless.
EXCEPTIONS = {
    # The dashboard calls GitHub through request.app.state; it only catches the client's errors.
    ("app.web.dashboard", "app.github.client"),
    # The metrics endpoint reads the inbox's depth and counts for its gauges.
    ("app.web.metrics", "app.queue.inbox"),
}
# Beyond the standard library, the domain uses only these; and none of the library's I/O.
DOMAIN_LIBRARIES = {"pydantic", "yaml", "app", "__future__"}
IO_STDLIB = {"asyncio", "socket", "ssl", "subprocess", "http", "urllib", "sqlite3", "threading"}


def imports(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (`from a import b` counts as `a.b`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_every_package_has_its_rules() -> None:
    packages = {f"app.{p.parent.name}" for p in APP.glob("*/__init__.py")}
    assert packages == set(MAY_IMPORT) | UNBOUND


def test_each_package_imports_only_what_its_layer_may() -> None:
    broken = []
    for path in sorted(APP.rglob("*.py")):
        module = ".".join(path.relative_to(APP.parent).with_suffix("").parts)
        layer = next((p for p in MAY_IMPORT if within(module, p)), None)
        if layer is None:
            continue
        for name in sorted(imports(path)):
            if within(name, "app"):
                allowed = any(within(name, p) for p in MAY_IMPORT[layer])
                excepted = any(within(name, t) for m, t in EXCEPTIONS if m == module)
                if not (allowed or excepted):
                    broken.append(f"{module} imports {name}")
            elif layer == "app.domain":
                top = name.split(".")[0]
                pure = top in sys.stdlib_module_names and top not in IO_STDLIB
                if not (pure or top in DOMAIN_LIBRARIES):
                    broken.append(f"{module} imports {name}")
    assert broken == []

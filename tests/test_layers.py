"""The layout stays readable: each top-level package imports only those below it, and no source file grows past
what one reader takes in.

Layers, bottom to top: core <- personas <- scheduler <- generation <- web. `config` is wiring: any package may
import it (settings, exceptions, the Celery app); its own modules import no app, except the project's root
wiring (urls, settings, celery, wsgi, asgi), which names every app. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["core", "personas", "scheduler", "generation", "web"]
WIRING = {"config/urls.py", "config/settings.py", "config/celery.py", "config/wsgi.py", "config/asgi.py"}
EXCLUDED_TOP = {"tests", "bench", ".venv", "var", ".git", ".ci"}
MAX_LINES = 500


def source_files() -> list[Path]:
    """Every non-test, non-migration module of the project's packages."""
    files = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if len(rel.parts) < 2 or rel.parts[0] in EXCLUDED_TOP or "migrations" in rel.parts:
            continue
        files.append(path)
    return files


def imported_packages(path: Path) -> set[str]:
    rel = path.relative_to(ROOT)
    return imports_in(path.read_text(encoding="utf-8"), rel.parts)


def imports_in(source: str, parts: tuple[str, ...]) -> set[str]:
    """Top-level packages a module (at path `parts`) imports, anywhere in it: module level or inside functions."""
    tree = ast.parse(source)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                found.add((node.module or "").split(".")[0])
            else:  # relative: resolve against the module's own package
                package = list(parts[:-1])
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                found.add(base[0] if base else (node.module or "").split(".")[0])
    return found


def allowed(src: str, rel: str) -> set[str]:
    if rel in WIRING:
        return set(LAYERS) | {"config"}
    if src == "config":
        return {"config"}
    return {"config", *LAYERS[: LAYERS.index(src) + 1]}


def package_graph() -> dict[str, set[str]]:
    project = set(LAYERS) | {"config"}
    graph: dict[str, set[str]] = {}
    for path in source_files():
        rel = path.relative_to(ROOT).as_posix()
        if rel in WIRING:
            continue
        src = rel.split("/")[0]
        graph.setdefault(src, set()).update((imported_packages(path) & project) - {src})
    return graph


def test_every_source_package_has_a_layer():
    packages = {p.relative_to(ROOT).parts[0] for p in source_files()}
    assert packages <= set(LAYERS) | {"config"}, f"place {sorted(packages - set(LAYERS) - {'config'})} in LAYERS"


def test_no_package_imports_one_above_it():
    project = set(LAYERS) | {"config"}
    upward = []
    for path in source_files():
        rel = path.relative_to(ROOT).as_posix()
        src = rel.split("/")[0]
        for dst in sorted((imported_packages(path) & project) - allowed(src, rel)):
            upward.append(f"{rel} imports {dst}")
    assert upward == []


def test_no_import_cycle_between_packages():
    graph = package_graph()
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in stack:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif len(stack) <= len(graph):
                visit(nxt, stack + [nxt])

    for start in sorted(graph):
        visit(start, [start])
    assert cycles == []


def test_nothing_imports_the_pages():
    importers = sorted(
        path.relative_to(ROOT).as_posix()
        for path in source_files()
        if path.relative_to(ROOT).parts[0] != "web"
        and path.relative_to(ROOT).as_posix() not in WIRING
        and "web" in imported_packages(path)
    )
    assert importers == []


@pytest.mark.parametrize("top", ["core", "personas", "scheduler", "generation", "web", "config", "bench"])
def test_no_source_file_over_the_line_limit(top):
    long = []
    for path in sorted((ROOT / top).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            long.append(f"{path.relative_to(ROOT).as_posix()}: {lines} lines")
    assert long == []


def test_the_checker_sees_imports_inside_functions_and_relative_ones():
    source = "import os\n\ndef f():\n    from web import urls\n    from . import access\n    import generation.specs\n"
    assert imports_in(source, ("core", "probe.py")) == {"os", "web", "core", "generation"}
    assert "web" in allowed("web", "web/x.py") and "web" not in allowed("generation", "generation/x.py")


def test_pages_read_through_selectors():
    """A page module runs no ORM query of its own (no `.objects`, no django.db): it calls its apps' selectors and
    services. The demo seeder and the management commands are tools, not pages."""
    offenders = []
    for path in sorted((ROOT / "web").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel == "web/demo.py" or "/management/" in rel:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "objects":
                offenders.append(f"{rel}:{node.lineno} .objects")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("django.db"):
                offenders.append(f"{rel}:{node.lineno} imports {node.module}")
    assert offenders == []

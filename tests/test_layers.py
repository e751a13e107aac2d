"""The layout stays readable: each top-level package depends only on those below it, no package's modules import
each other in a circle, and no source file grows past what one reader takes in.

Layers, bottom to top: core <- personas <- generation <- scheduler <- provenance <- publishing <- web. A package may
name only itself and the layers before it, by any of three kinds of dependency:

- imports, at module level or inside functions, absolute or relative (migrations' imports count too);
- string model references: ForeignKey / OneToOneField / ManyToManyField("app.Model") (first argument or `to=`),
  in models and in migrations' operations;
- migration dependencies: `dependencies = [("app", "0001_..."), ...]`, and `run_before` (which makes the named
  app depend on this one). Django's own apps (contenttypes, auth, admin, sessions, authtoken) and the swappable
  settings.AUTH_USER_MODEL are below every layer.

`config` is wiring: any package may import it (settings, the Celery app); its own modules import no app, except
the project's root wiring (urls, settings, celery, wsgi, asgi), which names every app.

Inside each package the module graph has no cycle: every import counts (function-level ones too), and
`from x import y`, where y is a submodule, imports x.y.

Pages (web/) read data through selectors: a page module runs no ORM query of its own.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["core", "personas", "generation", "scheduler", "provenance", "publishing", "web"]
WIRING = {"config/urls.py", "config/settings.py", "config/celery.py", "config/wsgi.py", "config/asgi.py"}
EXCLUDED_TOP = {"tests", "bench", ".venv", "var", ".git", ".ci"}
PROJECT = set(LAYERS) | {"config"}
# Django's own apps (and DRF's token app): every layer may depend on them.
DJANGO_APPS = {"contenttypes", "auth", "admin", "sessions", "authtoken", "messages", "staticfiles"}
RELATIONS = {"ForeignKey", "OneToOneField", "ManyToManyField"}
MAX_LINES = 500
QUERYSET_CALLS = {"filter", "exclude", "count", "annotate", "aggregate", "values_list", "select_related",
                  "prefetch_related"}


# --- Files ------------------------------------------------------------------------------------------------------


@cache
def project_files(*, migrations: bool) -> list[Path]:
    """The project packages' modules: source modules, or (migrations=True) migration modules only."""
    files = []
    for top in sorted(ROOT.iterdir()):
        if not top.is_dir() or top.name in EXCLUDED_TOP or top.name.startswith("."):
            continue
        for path in sorted(top.rglob("*.py")):
            if ("migrations" in path.relative_to(ROOT).parts) == migrations:
                files.append(path)
    return files


def source_files() -> list[Path]:
    """Every non-test, non-migration module of the project's packages."""
    return list(project_files(migrations=False))


def migration_files() -> list[Path]:
    return [path for path in project_files(migrations=True) if path.name != "__init__.py"]


@cache
def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def rel_of(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# --- Imports ----------------------------------------------------------------------------------------------------


@cache
def imported_packages(path: Path) -> set[str]:
    return packages_imported(parsed(path), path.relative_to(ROOT).parts)


def _relative_base(parts: tuple[str, ...], level: int) -> list[str]:
    """The package a relative import of `level` dots resolves against, for the module at path `parts`."""
    package = list(parts[:-1])  # a module's package; for an __init__.py, the package itself
    return package[: len(package) - (level - 1)] if level > 1 else package


def imports_in(source: str, parts: tuple[str, ...]) -> set[str]:
    """Top-level packages a module (at path `parts`) imports, anywhere in it: module level or inside functions."""
    return packages_imported(ast.parse(source), parts)


def packages_imported(tree: ast.AST, parts: tuple[str, ...]) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                found.add((node.module or "").split(".")[0])
            else:  # relative: resolve against the module's own package
                base = _relative_base(parts, node.level)
                found.add(base[0] if base else (node.module or "").split(".")[0])
    return found


def module_name(parts: tuple[str, ...]) -> str:
    """Dotted name of the module at path `parts` (a package's __init__.py is the package)."""
    names = list(parts[:-1]) + ([] if parts[-1] == "__init__.py" else [parts[-1].removesuffix(".py")])
    return ".".join(names)


def imported_modules(source: str | ast.AST, parts: tuple[str, ...], modules: set[str]) -> set[str]:
    """Dotted modules a module imports, anywhere in it. `from x import y` imports x.y when x.y is one of `modules`
    (a submodule), else x."""
    found = set()
    for node in ast.walk(ast.parse(source) if isinstance(source, str) else source):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:
                base = ".".join(_relative_base(parts, node.level) + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}" if base else alias.name
                found.add(sub if sub in modules else base)
    return found - {""}


def allowed(src: str, rel: str) -> set[str]:
    if rel in WIRING:
        return set(LAYERS) | {"config"}
    if src == "config":
        return {"config"}
    return {"config", *LAYERS[: LAYERS.index(src) + 1]}


def import_edges() -> list[tuple[str, str, str]]:
    """(from package, to package, file) for every import of another project package, migrations' included."""
    edges = []
    for path in source_files() + migration_files():
        rel = rel_of(path)
        src = rel.split("/")[0]
        for dst in sorted((imported_packages(path) & PROJECT) - {src}):
            edges.append((src, dst, rel))
    return edges


# --- String model references and migration dependencies ---------------------------------------------------------


def app_labels() -> dict[str, str]:
    """App label -> project package: a package with an apps.py, labelled by its `label` or its name."""
    labels = {}
    for apps in sorted(ROOT.glob("*/apps.py")):
        package = apps.parent.name
        label = package
        for node in ast.walk(parsed(apps)):
            names = [getattr(t, "id", None) for t in getattr(node, "targets", [])]
            if isinstance(node, ast.Assign) and "label" in names and isinstance(node.value, ast.Constant):
                label = node.value.value
        labels[label] = package
    return labels


def model_references_in(tree: ast.AST) -> list[tuple[str, int]]:
    """(app label, line) of every ForeignKey/OneToOneField/ManyToManyField("app.Model") in a module."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
        if name not in RELATIONS:
            continue
        target = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "to"), None)
        if isinstance(target, ast.Constant) and isinstance(target.value, str) and target.value.count(".") == 1:
            found.append((target.value.split(".")[0], node.lineno))
    return found


def migration_dependencies_in(tree: ast.AST) -> list[tuple[str, str, int]]:
    """(kind, app label, line) of a migration's `dependencies` and `run_before` entries. A swappable dependency
    (settings.AUTH_USER_MODEL) is Django's auth; its call is not an app label and is left out."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            names, value = [getattr(t, "id", None) for t in node.targets], node.value
        elif isinstance(node, ast.AnnAssign):
            names, value = [getattr(node.target, "id", None)], node.value
        else:
            continue
        for kind in ("dependencies", "run_before"):
            if kind in names:
                for elt in getattr(value, "elts", []):
                    if isinstance(elt, ast.Tuple) and elt.elts and isinstance(elt.elts[0], ast.Constant):
                        found.append((kind, str(elt.elts[0].value), elt.lineno))
    return found


def dependency_edges() -> list[tuple[str, str, str, str]]:
    """(from, to, kind, where) for model references and migration dependencies, `from` depending on `to`. A
    label that is no project app keeps its label (django's apps or a stranger)."""
    labels = app_labels()
    edges = []
    for path in source_files() + migration_files():
        rel = rel_of(path)
        if rel in WIRING:
            continue
        src = rel.split("/")[0]
        for label, line in model_references_in(parsed(path)):
            edges.append((src, labels.get(label, label), "model reference", f"{rel}:{line}"))
    for path in migration_files():
        rel, src = rel_of(path), rel_of(path).split("/")[0]
        for kind, label, line in migration_dependencies_in(parsed(path)):
            other = labels.get(label, label)
            if kind == "dependencies":
                edges.append((src, other, "migration dependency", f"{rel}:{line}"))
            else:  # run_before: the named app's migration waits for this one
                edges.append((other, src, "migration run_before", f"{rel}:{line}"))
    return [edge for edge in edges if edge[0] != edge[1]]


def dependency_allowed(src: str, dst: str) -> bool:
    if src in DJANGO_APPS:
        return dst in DJANGO_APPS
    if src not in LAYERS:
        return False
    return dst in DJANGO_APPS or dst in LAYERS[: LAYERS.index(src) + 1]


def package_graph() -> dict[str, dict[str, str]]:
    """package -> {package it depends on: the first reason found}, all three kinds together."""
    graph: dict[str, dict[str, str]] = {}
    for src, dst, rel in import_edges():
        if rel not in WIRING:
            graph.setdefault(src, {}).setdefault(dst, f"import in {rel}")
    for src, dst, kind, where in dependency_edges():
        if src in PROJECT and dst in PROJECT:
            graph.setdefault(src, {}).setdefault(dst, f"{kind} in {where}")
    return graph


# --- Cycles -----------------------------------------------------------------------------------------------------


def cycles_in(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a path back to its start) per strongly connected component that has one, found with Tarjan."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            components.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for node in sorted(graph):
            if node not in index:
                connect(node)
    finally:
        sys.setrecursionlimit(limit)

    cycles = []
    for component in sorted(components):
        members = set(component)
        start = component[0]
        if len(component) == 1 and start not in graph.get(start, ()):
            continue
        # Shortest way from start back to itself inside the component (breadth first).
        previous: dict[str, str] = {}
        queue, seen, end = [start], {start}, None
        while queue and end is None:
            node = queue.pop(0)
            for nxt in sorted(graph.get(node, ())):
                if nxt == start:
                    end = node
                    break
                if nxt in members and nxt not in seen:
                    seen.add(nxt)
                    previous[nxt] = node
                    queue.append(nxt)
        path = [start]
        while end is not None and end != start:
            path.insert(1, end)
            end = previous[end]
        cycles.append(path + [start])
    return cycles


def module_graph(top: str) -> dict[str, set[str]]:
    """The import graph of one top-level package's modules (migrations left out): module -> modules it imports."""
    files = {module_name(path.relative_to(ROOT).parts): path for path in source_files()
             if path.relative_to(ROOT).parts[0] == top}
    modules = set(files)
    graph = {}
    for name, path in files.items():
        imported = imported_modules(parsed(path), path.relative_to(ROOT).parts, modules)
        graph[name] = {dst for dst in imported if dst in modules and dst != name}
    return graph


# --- Tests ------------------------------------------------------------------------------------------------------


def test_every_source_package_has_a_layer():
    packages = {p.relative_to(ROOT).parts[0] for p in source_files()}
    assert packages <= set(LAYERS) | {"config"}, f"place {sorted(packages - set(LAYERS) - {'config'})} in LAYERS"


def test_no_package_imports_one_above_it():
    upward = [f"{rel} imports {dst}" for src, dst, rel in import_edges() if dst not in allowed(src, rel)]
    assert upward == []


def test_no_model_reference_or_migration_dependency_points_up():
    upward = [f"{where}: {kind} of {src} on {dst}" for src, dst, kind, where in dependency_edges()
              if not dependency_allowed(src, dst)]
    assert upward == []


def test_no_dependency_cycle_between_packages():
    """Imports, string model references and migration dependencies together, as `shared/tools/layers.py` sees
    them: no two packages depend on each other, directly or around a longer circle."""
    graph = package_graph()
    cycles = []
    for cycle in cycles_in({src: set(dsts) for src, dsts in graph.items()}):
        steps = [f"{a} -> {b} ({graph[a][b]})" for a, b in zip(cycle, cycle[1:], strict=False)]
        cycles.append("; ".join(steps))
    assert cycles == []


def test_the_shared_layer_tool_passes():
    tool = ROOT.parent / "shared" / "tools" / "layers.py"
    if not tool.exists():
        pytest.skip("no shared/tools/layers.py beside this checkout")
    result = subprocess.run([sys.executable, str(tool), str(ROOT)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("top", sorted(PROJECT))
def test_no_module_import_cycle_inside_a_package(top):
    cycles = [" -> ".join(cycle) for cycle in cycles_in(module_graph(top))]
    assert cycles == []


def test_nothing_imports_the_pages():
    importers = sorted(
        path.relative_to(ROOT).as_posix()
        for path in source_files() + migration_files()
        if path.relative_to(ROOT).parts[0] != "web"
        and path.relative_to(ROOT).as_posix() not in WIRING
        and "web" in imported_packages(path)
    )
    assert importers == []


@pytest.mark.parametrize("top", [*LAYERS, "config", "bench"])
def test_no_source_file_over_the_line_limit(top):
    long = []
    for path in sorted((ROOT / top).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            long.append(f"{path.relative_to(ROOT).as_posix()}: {lines} lines")
    assert long == []


def is_page_selectors(rel: str) -> bool:
    """web's own selector modules: page-specific reads, the one place in web/ a query is written."""
    return rel == "web/selectors.py" or (rel.startswith("web/selectors/") and rel.endswith(".py"))


def page_queries(source: str, rel: str) -> list[str]:
    offenders = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr == "objects":
            offenders.append(f"{rel}:{node.lineno} .objects")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in QUERYSET_CALLS:
            if node.func.attr == "count" and (node.args or node.keywords):
                continue  # str.count(x), list.count(x): a queryset's count() takes no argument
            offenders.append(f"{rel}:{node.lineno} .{node.func.attr}()")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("django.db"):
            offenders.append(f"{rel}:{node.lineno} imports {node.module}")
    return sorted(offenders, key=lambda text: (int(text.split(":")[1].split()[0]), text))


def test_pages_read_through_selectors():
    """A page module runs no ORM query of its own (no `.objects`, no `.filter()`, `.exclude()`, `.count()`,
    `.annotate()`, `.aggregate()`, `.values_list()`, `.select_related()`, `.prefetch_related()`, no django.db): it
    calls its apps' selectors and services, or web's own selectors for a page-specific read. The demo seeder and the
    management commands are tools, not pages; web's model (the demo seeding's state) and its migrations are not pages
    either."""
    offenders = []
    for path in sorted((ROOT / "web").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in ("web/demo.py", "web/models.py") or "/management/" in rel or "/migrations/" in rel \
                or is_page_selectors(rel):
            continue
        offenders += page_queries(path.read_text(encoding="utf-8"), rel)
    assert offenders == []


# --- The checker's own tests ------------------------------------------------------------------------------------


def test_the_checker_sees_imports_inside_functions_and_relative_ones():
    source = "import os\n\ndef f():\n    from web import urls\n    from . import access\n    import generation.specs\n"
    assert imports_in(source, ("core", "probe.py")) == {"os", "web", "core", "generation"}
    assert "web" in allowed("web", "web/x.py") and "web" not in allowed("generation", "generation/x.py")
    assert "generation" in allowed("scheduler", "scheduler/x.py")
    assert "scheduler" not in allowed("generation", "generation/x.py")
    assert "scheduler" in allowed("provenance", "provenance/x.py")
    assert "provenance" not in allowed("scheduler", "scheduler/x.py")


def test_the_checker_resolves_submodules_and_relative_imports_to_modules():
    modules = {"gen", "gen.engine", "gen.engine.specs", "gen.jobs", "gen.jobs.render", "gen.models"}
    source = ("from gen.engine import specs, load\nfrom . import render\nfrom ..models import Job\n"
              "def f():\n    import gen.jobs\n")
    assert imported_modules(source, ("gen", "jobs", "best.py"), modules) == {
        "gen.engine.specs", "gen.engine", "gen.jobs.render", "gen.models", "gen.jobs"}
    assert imported_modules("from . import specs\n", ("gen", "engine", "__init__.py"), modules) == {
        "gen.engine.specs"}
    assert module_name(("gen", "engine", "__init__.py")) == "gen.engine"
    assert module_name(("gen", "engine", "specs.py")) == "gen.engine.specs"


def test_the_checker_finds_cycles_with_their_path():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}, "f": set()}
    assert cycles_in(graph) == [["a", "b", "c", "a"], ["e", "e"]]
    assert cycles_in({"a": {"b"}, "b": set()}) == []


def test_the_checker_reads_model_references_and_migration_dependencies():
    source = (
        "class Migration(migrations.Migration):\n"
        "    dependencies = [('personas', '0001_initial'), migrations.swappable_dependency(settings.AUTH_USER_MODEL),"
        " ('web', '0002_x')]\n"
        "    run_before = [('core', '0003_y')]\n"
        "    operations = [migrations.AddField(model_name='post', name='job',\n"
        "        field=models.ForeignKey(on_delete=models.CASCADE, to='generation.generationjob')),\n"
        "        migrations.AddField(model_name='post', name='owner', field=models.ForeignKey(\n"
        "            on_delete=models.CASCADE, to=settings.AUTH_USER_MODEL)),\n"
        "        migrations.AddField(model_name='post', name='tags', field=ManyToManyField('provenance.Tag'))]\n"
    )
    tree = ast.parse(source)
    assert [label for label, _ in model_references_in(tree)] == ["generation", "provenance"]
    assert [(kind, label) for kind, label, _ in migration_dependencies_in(tree)] == [
        ("dependencies", "personas"), ("dependencies", "web"), ("run_before", "core")]
    assert dependency_allowed("scheduler", "generation") and dependency_allowed("scheduler", "auth")
    assert not dependency_allowed("generation", "scheduler") and not dependency_allowed("scheduler", "web")
    assert not dependency_allowed("auth", "scheduler")


def test_the_checker_flags_queries_in_pages():
    source = ("def view(request, qs, d):\n    d.get('x')\n    'abc'.count('a')\n    qs.filter(a=1).count()\n"
              "    Post.objects.all()\n    qs.select_related('x')\n")
    assert page_queries(source, "web/x.py") == [
        "web/x.py:4 .count()", "web/x.py:4 .filter()", "web/x.py:5 .objects", "web/x.py:6 .select_related()"]

"""Dependency direction and cold-start guards, checked on real imports in fresh processes."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "optimum", "boto3", "pydantic", "sentence_transformers")
UPDATE_ONLY = ("tuf", "securesystemslib", "urllib3", "cryptography")  # first update imports them


def imported_modules(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout.split()
    return {m.split(".")[0] for m in out}


@pytest.mark.perf
def test_import_edge_and_predict_pulls_no_heavy_package(sample_artifact: Path) -> None:
    """GIVEN a fresh process WHEN it imports edge, loads and predicts THEN nothing heavy loads."""
    mods = imported_modules(
        f"import edge; m = edge.load({str(sample_artifact)!r}); m.predict(['hi'])"
    )
    assert "onnxruntime" in mods and "tokenizers" in mods
    assert not mods & set(HEAVY), mods & set(HEAVY)
    assert not mods & set(UPDATE_ONLY), mods & set(UPDATE_ONLY)


@pytest.mark.perf
def test_import_edge_alone_does_not_load_onnxruntime() -> None:
    """GIVEN a fresh process WHEN it imports edge THEN neither onnxruntime nor the update
    stack (tuf, securesystemslib: loaded on the first update) is imported."""
    mods = imported_modules("import edge")
    assert "onnxruntime" not in mods
    assert not mods & set(UPDATE_ONLY), mods & set(UPDATE_ONLY)


def _imports_of(folder: str) -> set[str]:
    found: set[str] = set()
    for path in (REPO / folder).rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("edge", {"functions", "batch", "optimize", "cdk", "precast", "torch", "transformers"}),
        ("functions", {"batch", "optimize", "cdk", "precast", "torch", "transformers"}),
        ("batch", {"functions", "optimize", "cdk", "precast", "torch", "transformers"}),
    ],
)
def test_dependency_direction(folder: str, forbidden: set[str]) -> None:
    """Runtime folders reach each other only through edge/; none imports build-time code."""
    assert not _imports_of(folder) & forbidden


FIRST_PARTY = ("edge", "functions", "batch", "optimize", "cdk", "precast")
# Top to bottom: a package imports only packages on a lower line, never one on its own line
# or above. ``precast`` is the command line (precast.cli, precast.commands, ...); its
# library layer ``precast.project`` (config loader, Lambda asset builder, cost model) sits
# under cdk/ and optimize/, which import it, and never imports the CLI. cdk/ stands above
# batch/ (it deploys it and reads its exit codes); functions/ and batch/ import edge/ only
# (test_dependency_direction).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("precast",),
    ("cdk",),
    ("optimize", "batch", "functions"),
    ("precast.project",),
    ("edge",),
)
PACKAGES = sorted((p for line in LAYERS for p in line), key=len, reverse=True)
ROW = re.compile(r"^\| `(\w+(?:/\w+)*)/` \|[^|]*\|(?P<imports>[^|]*)\|$", re.MULTILINE)
NAMED = re.compile(r"`((?:" + "|".join(FIRST_PARTY) + r")(?:(?:/\w+)*/|(?:\.\w+)+))`")


def _modules() -> dict[str, Path]:
    """Every first-party module by dotted name (a package by its __init__.py)."""
    found: dict[str, Path] = {}
    for folder in FIRST_PARTY:
        for path in (REPO / folder).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _known(name: str) -> str | None:
    """The first-party module an imported dotted name lands in (its longest known prefix)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _targets(module: str, node: ast.AST) -> list[str]:
    """First-party modules one import statement names: ``from a import b`` is module a.b
    when it exists, else a; relative imports are resolved against ``module``."""
    if isinstance(node, ast.Import):
        return [t for a in node.names if (t := _known(a.name))]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
        anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
        base = f"{anchor}.{base}" if base else anchor
    out = [t for a in node.names if (t := _known(f"{base}.{a.name}")) == f"{base}.{a.name}"]
    if len(out) < len(node.names) and (t := _known(base)):
        out.append(t)
    return out


def _import_graph() -> dict[str, set[str]]:
    """module -> the first-party modules it imports anywhere: at the top, inside a function
    (lazily) or under ``if TYPE_CHECKING:``. Every import counts: a lazy one still ties the
    two files together."""
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[module] = {t for n in ast.walk(tree) for t in _targets(module, n)} - {module}
    return graph


GRAPH = _import_graph()


def _package(module: str) -> str:
    return next(p for p in PACKAGES if module == p or module.startswith(p + "."))


def _layer(package: str) -> int:
    return next(i for i, line in enumerate(LAYERS) if package in line)


def test_every_arrow_points_down() -> None:
    """GIVEN the layers (precast CLI > cdk > optimize, batch, functions > precast.project >
    edge) WHEN every import of every module is read, lazy ones included THEN each import
    between two packages runs to a lower layer: nothing imports upward or sideways, and the
    library layer (precast.project) never imports the CLI."""
    upward = sorted(
        f"{a} -> {b}"
        for a, targets in GRAPH.items()
        for b in targets
        if _package(a) != _package(b) and _layer(_package(b)) <= _layer(_package(a))
    )
    assert upward == [], "imports that do not point down:\n" + "\n".join(upward)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles() -> None:
    """GIVEN every module of the runtime and build packages WHEN their imports are read,
    lazy and TYPE_CHECKING ones included THEN no two modules reach each other: what two
    files share lives in a third, lower one."""
    described = [
        " <-> ".join(c)
        + ": "
        + "; ".join(f"{a} -> {b}" for a in c for b in sorted(GRAPH[a] & set(c)))
        for c in _cycles(GRAPH)
    ]
    assert described == [], "import cycles:\n" + "\n".join(described)


def test_cycle_finder_sees_a_lazy_loop() -> None:
    """The cycle check itself: a loop closed by a lazy import is found, a chain is not."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    lazy = ast.parse("def f():\n    from edge.model import EdgeModel\n").body[0]
    assert isinstance(lazy, ast.FunctionDef)
    assert _targets("edge.smoke", lazy.body[0]) == ["edge.model"]


def _first_party_imports(folder: str) -> set[str]:
    """First-party modules a documented folder (``cdk``, ``precast/project``) imports from
    other packages."""
    package = folder.replace("/", ".")
    return {
        b
        for a, targets in GRAPH.items()
        if _package(a) == package
        for b in targets
        if _package(b) != package
    }


def _documented() -> dict[str, str]:
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    return {m.group(1): m.group("imports") for m in ROW.finditer(text)}


def _covers(named: str, module: str) -> bool:
    if named.endswith("/"):  # a whole package: `edge/`, `precast/project/`
        named = named[:-1].replace("/", ".")
    return module == named or module.startswith(named + ".")


@pytest.mark.parametrize("folder", [*FIRST_PARTY, "precast/project"])
def test_architecture_imports_table_matches_the_code(folder: str) -> None:
    """GIVEN docs/architecture.md's "imports allowed" column WHEN compared with the folder's
    real first-party imports THEN each import is named there and each name is imported
    (`precast/` may import anything)."""
    rows = _documented()
    assert folder in rows, f"docs/architecture.md has no row for {folder}/"
    if "anything" in rows[folder]:
        return
    named = NAMED.findall(rows[folder])
    imported = _first_party_imports(folder)
    undocumented = {m for m in imported if not any(_covers(n, m) for n in named)}
    assert undocumented == set(), f"{folder}/ imports {undocumented}; add them to its row"
    stale = {n for n in named if not any(_covers(n, m) for m in imported)}
    assert stale == set(), f"{folder}/'s row names {stale}, which it does not import"

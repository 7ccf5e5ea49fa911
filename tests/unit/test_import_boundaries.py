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
ROW = re.compile(r"^\| `(\w+)/` \|[^|]*\|(?P<imports>[^|]*)\|$", re.MULTILINE)
NAMED = re.compile(r"`((?:" + "|".join(FIRST_PARTY) + r")(?:/|(?:\.\w+)+))`")


def _first_party_imports(folder: str) -> set[str]:
    """Dotted first-party modules a folder imports (absolute imports of other packages)."""
    found: set[str] = set()
    for path in (REPO / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            found.update(n for n in names if n.split(".")[0] in set(FIRST_PARTY) - {folder})
    return found


def _documented() -> dict[str, str]:
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    return {m.group(1): m.group("imports") for m in ROW.finditer(text)}


def _covers(named: str, module: str) -> bool:
    if named.endswith("/"):  # a whole package: `edge/`
        return module.split(".")[0] == named[:-1]
    return module == named or module.startswith(named + ".")


@pytest.mark.parametrize("folder", FIRST_PARTY)
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

"""optimize/ is steps: small functions with typed inputs, composed by the pipeline."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAX_LINES = 60
MAX_POSITIONAL = 5


def functions_and_calls(folder: str) -> list[tuple[str, ast.AST]]:
    out: list[tuple[str, ast.AST]] = []
    for path in sorted((REPO / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Call):
                out.append((f"{path.relative_to(REPO)}:{node.lineno}", node))
    return out


@pytest.mark.parametrize("folder", ["optimize"])
def test_no_long_function_and_no_long_positional_call(folder: str) -> None:
    """GIVEN optimize/ WHEN parsed THEN no function is over 60 lines and no call
    passes more than 5 positional arguments (keyword arguments say what each value is)."""
    long, wide = [], []
    for where, node in functions_and_calls(folder):
        if isinstance(node, ast.Call) and len(node.args) > MAX_POSITIONAL:
            wide.append(where)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if (node.end_lineno or node.lineno) - node.lineno + 1 > MAX_LINES:
                long.append(f"{where} {node.name}")
    assert long == [] and wide == []


def test_every_recipe_the_config_allows_has_a_preset() -> None:
    """GIVEN the recipe names precast.toml accepts THEN optimize has exactly those presets."""
    from optimize.recipes import preset
    from precast.project.config import RECIPES

    assert [preset(name, int8_dot_product=True).name for name in RECIPES] == list(RECIPES)
    with pytest.raises(ValueError, match="Choices are"):
        preset("int4", int8_dot_product=True)

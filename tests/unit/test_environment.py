"""edge/environment.py is the one runtime-environment contract: complete, read, one meaning.

(The CDK side, "every variable CDK sets is read by the host that receives it", is checked
on the synthesized template in tests/cdk/test_cdk_environment.py.)
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from batch.arguments import add_run_arguments, settings_from_args
from batch.settings import JobSettingsError
from edge.environment import BY_NAME, PRECAST_CACHE_TTL_S, VARIABLES, markdown_table, ttl_seconds
from functions.exceptions import SettingsError
from functions.settings import resolve_settings

REPO = Path(__file__).resolve().parents[2]
CODE_DIRS = ("edge", "functions", "batch", "cdk", "precast", "optimize", "benchmarks")
NAME = re.compile(r"\bPRECAST_[A-Z0-9_]+\b")


def code_files() -> list[Path]:
    files = [p for d in CODE_DIRS for p in (REPO / d).rglob("*.py")]
    return files + [p for d in CODE_DIRS for p in (REPO / d).rglob("Dockerfile")]


def test_every_precast_variable_in_the_code_is_declared_once() -> None:
    """GIVEN every source file and Dockerfile WHEN scanned for PRECAST_* names THEN each is
    declared in edge/environment.py (no variable exists only as a string somewhere)."""
    used = {m for p in code_files() for m in NAME.findall(p.read_text(encoding="utf-8"))}
    assert used - set(BY_NAME) == set()
    assert len(BY_NAME) == len(VARIABLES)


def test_every_declared_variable_is_used_outside_the_contract() -> None:
    """GIVEN the contract WHEN each name is looked for in the code THEN someone reads it."""
    contract = REPO / "edge" / "environment.py"
    text = "\n".join(p.read_text(encoding="utf-8") for p in code_files() if p != contract)
    unused = [v.name for v in VARIABLES if not re.search(rf"\b{v.name}\b", text)]
    assert unused == []


def batch_ttl(env: dict[str, str], **defaults: object) -> float | None:
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    ns = parser.parse_args(["--input", "in.jsonl", "--output", "out"])
    return settings_from_args(ns, defaults=defaults, env=env).ttl_s


@pytest.mark.parametrize("days", [0, 1, 30])
def test_the_same_ttl_means_the_same_on_every_host(days: int) -> None:
    """GIVEN cache_ttl_days as CDK writes it (PRECAST_CACHE_TTL_S) or as the CLI passes it
    WHEN the function host and the batch job resolve it THEN both get the same TTL, and
    0 means "never expires" on both (it used to deploy a working Lambda and a failing job)."""
    raw = ttl_seconds(days)
    expected = None if days == 0 else days * 86_400.0
    env = {PRECAST_CACHE_TTL_S.name: raw}
    functions = resolve_settings(artifact_dirs=(Path("a"),), environ=env).cache_ttl_s
    assert functions == batch_ttl(env) == PRECAST_CACHE_TTL_S.parse("x", raw) == expected
    # what `precast serve` / `precast batch run` pass from precast.toml, no environment
    served = resolve_settings(artifact_dirs=(Path("a"),), cache_ttl_s=days * 86_400.0, environ={})
    assert served.cache_ttl_s == batch_ttl({}, ttl_s=days * 86_400) == expected


@pytest.mark.parametrize("raw", ["-5", "soon", "nan"])
def test_a_bad_ttl_is_refused_by_every_host_with_the_same_words(raw: str) -> None:
    env = {PRECAST_CACHE_TTL_S.name: raw}
    with pytest.raises(SettingsError) as on_functions:
        resolve_settings(artifact_dirs=(Path("a"),), environ=env)
    with pytest.raises(JobSettingsError) as on_batch:
        batch_ttl(env)
    assert str(on_functions.value) == str(on_batch.value)
    assert PRECAST_CACHE_TTL_S.name in str(on_batch.value)


def test_configuration_env_table_is_generated_from_the_contract() -> None:
    """GIVEN docs/configuration.md WHEN its environment table is compared with the contract's
    THEN equal (regenerate with `precast config env`)."""
    page = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    begin, end = "<!-- env-table:begin -->\n", "\n<!-- env-table:end -->"
    assert begin in page and end in page
    table = page.split(begin, 1)[1].split(end, 1)[0]
    assert table == markdown_table()

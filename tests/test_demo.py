"""`precast demo`, the README's main job, end to end on a private project directory."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edge.cache.sqlite import SQLiteCache
from precast.cli import main

pytestmark = pytest.mark.slow


def _private_project(repo_root: Path, sample_artifact: Path, tmp_path: Path) -> Path:
    """The repo's precast.toml, reusing its built artifacts, everything else under tmp."""
    text = (repo_root / "precast.toml").read_text(encoding="utf-8")
    project = (
        "[project]\n"
        f'artifacts_dir = "{sample_artifact.parent.parent}"\n'
        'dist_dir = "dist"\n'
        'cache = "sqlite:cache.sqlite"\n'
        'keys_dir = "keys"\n'
    )
    text = re.sub(r"\[project\]\n(?:[^\[\n].*\n)*", project, text, count=1)
    config = tmp_path / "precast.toml"
    config.write_text(text, encoding="utf-8")
    return config


def _query_rows(out: str) -> dict[str, tuple[int, int]]:
    rows = {}
    for label in ("precomputed by the batch step", "new texts, first time", "the same new texts"):
        match = re.search(re.escape(label) + r".*?(\d+)\s+(\d+)/(\d+)", out)
        assert match, f"no row {label!r} in:\n{out}"
        rows[label] = (int(match.group(2)), int(match.group(3)))
    return rows


def test_demo_precomputes_then_serves_hits_and_misses(
    repo_root: Path, sample_artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN a fresh project WHEN `precast demo` runs twice THEN each run optimizes (reused),
    bundles, batch-precomputes the sample input (the second run is a no-op), and the served
    queries are hits for precomputed texts, misses then hits for new ones."""
    config = _private_project(repo_root, sample_artifact, tmp_path)

    assert main(["--config", str(config), "demo"]) == 0
    first = capsys.readouterr().out
    assert "winner:" in first and "cosine similarity:" in first
    assert "predicted 200" in first and "cache entries written 200" in first
    rows = _query_rows(first)
    assert rows["precomputed by the batch step"] == (8, 8)
    assert rows["new texts, first time"] == (0, 8)
    assert rows["the same new texts"] == (8, 8)
    assert "hit ratio 16/24 = 67%" in first
    assert list((tmp_path / "dist" / "bundles" / "minilm").glob("*.pcb"))
    cache = SQLiteCache(tmp_path / "cache.sqlite")
    after_first = cache.count()
    assert after_first >= 200 + 8 + 1  # batch + new texts written back + warm-up

    assert main(["--config", str(config), "demo"]) == 0
    second = capsys.readouterr().out
    assert "is already complete" in second  # the batch run is idempotent
    rows = _query_rows(second)
    assert rows["new texts, first time"] == (0, 8)  # new on every run
    assert cache.count() == after_first + 8

"""Pure rules of issue 23: stray files, the max_tokens default, the size gate and the
closest recipe named when no recipe meets the budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimize.evaluate import Scores
from optimize.select import Budget, closest, over_size, select
from optimize.source import SourceModel, is_stray
from precast.commands.models import entry


@pytest.mark.parametrize(
    ("path", "stray"),
    [
        ("desktop.ini", True),
        ("1_Pooling/desktop.ini", True),
        ("Thumbs.db", True),
        ("README.md", True),
        (".DS_Store", True),
        (".gitattributes", True),
        (".git/HEAD", True),
        ("model.safetensors", False),
        ("1_Pooling/config.json", False),
        ("vocab.txt", False),
    ],
)
def test_stray_files(path: str, stray: bool) -> None:
    assert is_stray(Path(path)) is stray


def source(**kw: object) -> SourceModel:
    base: dict[str, object] = {
        "path": Path("/m"),
        "model_type": "mpnet",
        "architecture": "MPNetForMaskedLM",
        "task": "feature-extraction",
        "max_positions": 512,
        "pad_token": "<pad>",
        "pad_id": 1,
        "tokenizer_model": "WordPiece",
    }
    return SourceModel(**(base | kw))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("length", "positions", "expected"),
    [(384, 512, 384), (1024, 512, 512), (None, 512, 256), (None, 128, 128)],
)
def test_max_tokens_defaults_to_the_models_own_length(
    length: int | None, positions: int, expected: int
) -> None:
    """GIVEN max_seq_length 384 and 512 positions THEN 384 (no 256 cap); beyond the
    positions THEN the positions; none named THEN precast's 256, capped too."""
    found = source(max_seq_length=length, max_positions=positions, length_from="x y")
    assert found.default_max_tokens() == expected
    assert f"max_tokens = {expected}  #" in entry("m", "dir", found, None)


def scores(size_mb: float, cosine: float = 0.999, tps: float = 100.0) -> Scores:
    return Scores(cosine, cosine, 1.0, tps, int(size_mb * 1e6))


def test_no_size_limit_unless_set() -> None:
    """GIVEN max_size_mb unset THEN a 438 MB recipe fails nothing and wins."""
    from precast.project.config import OptimizeSettings

    assert OptimizeSettings().max_size_mb is None
    budget = Budget(0.99, 0.9, 0.9, None)
    assert budget.failures(scores(438.0)) == []
    assert over_size({"fp32-optimized": 438_000_000}, None) == {}
    assert select({"fp32-optimized": scores(438.0)}, budget)[0] == "fp32-optimized"


def test_every_recipe_over_the_size_budget_names_the_smallest() -> None:
    sizes = {"fp32-optimized": 438_000_000, "static-int8-per-channel": 110_200_000}
    budget = Budget(0.99, 0.9, 0.9, 25.0)
    assert over_size(sizes, 25.0) == sizes
    assert closest(budget, "x", sizes, {}) == (
        "closest: static-int8-per-channel at 110.2 MB, 85.2 MB over max_size_mb = 25; "
        "set [models.x.optimize] max_size_mb >= 111"
    )


def test_an_accuracy_failure_names_the_most_accurate_and_the_unscored() -> None:
    """GIVEN two scored recipes under the cosine bar and fp32 over the size limit THEN the
    closest is the more accurate one, with what it missed, and fp32 is named as unscored."""
    budget = Budget(0.99, 0.9, 0.9, 120.0)
    scored = {"dynamic-int8-per-channel": scores(110, 0.918), "static-int8": scores(110, 0.981)}
    sizes = {n: s.size_bytes for n, s in scored.items()} | {"fp32-optimized": 438_000_000}
    text = closest(budget, "x", sizes, scored)
    assert text.startswith("closest: static-int8 (mean cosine 0.9810 < 0.99)")
    assert "not scored, over max_size_mb = 120: fp32-optimized (max_size_mb >= 438" in text


@pytest.mark.parametrize("openvino", [True, False])
def test_models_add_gates_openvino_where_this_host_can(
    openvino: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a build host with (x86 + precast[openvino]) or without OpenVINO WHEN models add
    writes the entry THEN OpenVINO's variants are gated by default there, and only named
    (commented) elsewhere; the entry parses with the schema every command uses."""
    import tomllib

    from precast.commands import models
    from precast.project.config import parse_config

    monkeypatch.setattr(models, "openvino_here", lambda: openvino)
    text = entry("m", "/m", source(), None)
    model = parse_config(tomllib.loads(text), Path("precast.toml")).model("m")
    expected = ("onnxruntime", "openvino") if openvino else ("onnxruntime",)
    assert model.optimize.engines == expected

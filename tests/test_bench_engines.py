"""benchmarks/bench_engines.py's decisions and its rendering, without running the engines.

The benchmark itself (minutes of CPU) is smoke-run by hand; these tests pin what it decides:
which peer the ratio is taken against, the texts it measures, the random base-size model
it builds, and how engines.json (per model) renders into README.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks import bench_engines, doc_numbers, report
from benchmarks.bench_engines import REFERENCE


def _row(tps: float, long: float, recall: float | None, cos: float) -> dict[str, Any]:
    row: dict[str, Any] = {
        "texts_per_s": tps,
        "long_texts_per_s": long,
        "mean_cosine_to_fp32": cos,
        "min_cosine_to_fp32": cos - 0.01,
    }
    if recall is not None:
        row["recall_at_1"] = recall
    return row


def _results(real: bool) -> dict[str, dict[str, Any]]:
    r = (lambda x: x) if real else (lambda x: None)
    return {
        "precast (cpu-int8)": _row(150.0, 30.0, r(0.810), 0.995),
        REFERENCE: _row(50.0, 9.0, r(0.8155), 1.0),
        "OpenVINO bf16": _row(140.0, 20.0, r(0.8150), 0.9999),
        "OpenVINO int8 (NNCF)": _row(166.0, 32.0, r(0.800), 0.985),  # fast, not accurate
    }


def test_ratio_is_against_the_fastest_peer_within_half_a_point_of_fp32_recall() -> None:
    """GIVEN a faster peer that loses 1.5 pt recall WHEN the peer is chosen on real weights
    THEN it is left out and precast is compared with the fastest accurate one."""
    rule, names, ratios = bench_engines.fastest_peers(
        _results(True), "precast (cpu-int8)", real=True
    )
    assert "0.5 pt" in rule
    assert names == {"docs": "OpenVINO bf16", "long": "OpenVINO bf16"}
    assert ratios["docs"] == 150.0 / 140.0 and ratios["long"] == 30.0 / 20.0


def test_on_random_weights_the_peer_is_chosen_by_mean_cosine_not_recall() -> None:
    """GIVEN random weights (no recall) WHEN the peer is chosen THEN mean cosine >= 0.99
    decides: NNCF's 0.985 is out, bf16 is in."""
    rule, names, _ = bench_engines.fastest_peers(_results(False), "precast (cpu-int8)", real=False)
    assert "cosine" in rule and "recall means nothing" in rule
    assert names["long"] == "OpenVINO bf16"


def test_long_texts_reach_the_model_max_length_from_unmeasured_docstrings() -> None:
    """GIVEN a tokenizer counting words WHEN long texts are built THEN each has at least
    max_tokens words and none contains an NNCF calibration text."""
    from optimize import corpus

    start = bench_engines.NNCF_CAL_START + 10
    texts = bench_engines.long_texts(5, lambda t: len(t.split()), 120, start)
    assert len(texts) == 5 and all(len(t.split()) >= 120 for t in texts)
    calibration = corpus.stdlib_docstrings()[bench_engines.NNCF_CAL_START : start]
    assert not any(c in t for c in calibration for t in texts)


def _engines_json(tmp: Path) -> dict[str, Any]:
    block = {
        "model": "random mpnet 12 x 768",
        "weights": "random",
        "max_tokens": 384,
        "pairs": 1000,
        "long_texts": 400,
        "results": _results(False),
        "fp32_recall_at_1": None,
        "rule": "mean cosine to fp32 >= 0.99",
        "fastest_peer": {"docs": "OpenVINO bf16", "long": "OpenVINO bf16"},
        "precast_over_fastest_peer": {"docs": 150 / 140, "long": 1.5},
        "build": {
            "minutes": 7.25,
            "peak_rss_gib": 5.5,
            "recipe": "static-int8-per-channel",
            "reason": "fastest within budget",
        },  # fmt: skip
        "engines": {"openvino": {"installed_mb": 185.2, "cold_start_s": 0.65}},
    }
    minilm = {**block, "model": "sample MiniLM", "weights": "real", "max_tokens": 256,
              "results": _results(True), "fp32_recall_at_1": 0.8155}  # fmt: skip
    return {"benchmark": "engines", "at": "2026-12-02T00:00:00+00:00",
            "models": {"minilm": minilm, "base": block}}  # fmt: skip


def test_per_model_results_render_into_the_readme_table(tmp_path: Path) -> None:
    """GIVEN engines.json with MiniLM and a base-size model WHEN the docs table and the
    headline rows render THEN both models appear with the long-text speed, the build's
    minutes and peak RSS, recall only for real weights, and the 1.2x target on the peer."""
    data = _engines_json(tmp_path)
    table = doc_numbers.engines_table({"engines": data})
    assert "**minilm**" in table and "**base**" in table
    assert "400 texts × 384 tokens" in table and "400 texts × 256 tokens" in table
    assert "7.2 min, peak RSS 5.50 GiB, recipe static-int8-per-channel" in table
    base_part = table.split("**base**")[1]
    assert "recall@1" not in base_part.split("\n\n")[1]  # the base table's header
    assert "| OpenVINO bf16 | 140.0 | 20.0 | 0.9999 / 0.9899 | 1.50× |" in base_part
    rows: list[Any] = []
    report._engines_rows(data, rows)
    targets = [r for r in rows if r[4]]
    assert {r[0].split(",")[1].strip() for r in targets} == {"minilm", "base"}
    assert all("OpenVINO bf16" in r[0] and "1.2×" in r[4] for r in targets)


def test_a_results_file_from_before_per_model_runs_still_renders() -> None:
    """GIVEN the single-model engines.json shape WHEN rendered THEN it reads as MiniLM."""
    legacy = json.loads(json.dumps(_engines_json(Path())["models"]["minilm"]))
    legacy |= {"fastest_peer_within_half_point": "OpenVINO bf16", "at": "2026-12-01"}
    legacy["precast_over_fastest_peer"] = 1.07
    del legacy["fastest_peer"], legacy["rule"]
    models = doc_numbers.engine_models(legacy)
    assert list(models) == ["minilm"]
    assert "OpenVINO bf16, precast at 1.07×" in doc_numbers.engines_table({"engines": legacy})


def test_random_base_model_has_the_requested_shape_and_a_base_vocabulary(tmp_path: Path) -> None:
    """GIVEN a 2 x 64 request WHEN the random model is built THEN it is a
    sentence-transformers save (mean pooling, Normalize) with that shape, a real base
    model's vocabulary size and its max_seq_length 384."""
    from benchmarks.base_model import MAX_SEQ_LENGTH, VOCAB, build_base_model

    out = build_base_model(tmp_path / "m", layers=2, hidden=64, trained_vocab=500)
    config = json.loads((out / "config.json").read_text())
    assert (config["num_hidden_layers"], config["hidden_size"]) == (2, 64)
    assert config["vocab_size"] == VOCAB and config["model_type"] == "mpnet"
    modules = [m["type"] for m in json.loads((out / "modules.json").read_text())]
    assert modules[-1].endswith("Normalize") and any(m.endswith("Pooling") for m in modules)
    from optimize.source import inspect_source

    assert inspect_source(out).max_seq_length == MAX_SEQ_LENGTH

"""The default recipe selection (fp32, dynamic int8 per channel, static int8 per channel) on
the task heads, through ``run_optimize``: every candidate's gate numbers are measured and
recorded, each verdict follows from them, and the recorded choice is one that passed (or,
with none passing, the honest ``--force`` outcome). Tiny random heads may well fail int8:
the test asserts what happened, whichever it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optimize.evaluate import Scores
from optimize.select import Budget

pytestmark = pytest.mark.slow

DEFAULT = ("fp32-optimized", "dynamic-int8-per-channel", "static-int8-per-channel")
MEASURES = {
    "text-classification": ("top1_agreement", "max_probability_change"),
    "text-ranking": ("top1_agreement", "kendall_tau"),
}


@pytest.mark.parametrize(
    ("name", "task"), [("bert-sentiment", "text-classification"), ("xlmr-reranker", "text-ranking")]
)
def test_default_recipes_are_gated_on_the_tasks_measures(
    name: str, task: str, tiny_sources: dict[str, Path], tmp_path: Path
) -> None:
    """GIVEN a tiny classifier / cross-encoder and the default recipes WHEN optimized THEN
    the manifest records all three candidates with their task measures (fp32 equal to the
    reference, int8 smaller and measurably moved), each recorded verdict is the budget's
    verdict on the recorded numbers, the winner passed, and the reason names the task's
    measures and every rejected recipe with its failures."""
    from optimize.exceptions import AccuracyBudgetError
    from optimize.pipeline import run_optimize
    from precast.project.config import load_config

    (tmp_path / "precast.toml").write_text(
        f'[models.{name}]\nsource = "{tiny_sources[name]}"\ntask = "{task}"\n'
        f"[models.{name}.optimize]\ncalibration_texts = 16\neval_texts = 32\n"
    )
    model = load_config(tmp_path / "precast.toml").model(name)
    assert model.optimize.recipes == DEFAULT  # the defaults, not an fp32-only list
    try:
        directory = run_optimize(model, tmp_path / "artifacts", progress=lambda _m: None).directory
    except AccuracyBudgetError as exc:  # every recipe failed: the report names why
        assert {r["recipe"] for r in exc.report} == set(DEFAULT)
        assert all(r["failures"] for r in exc.report)
        return
    manifest = json.loads((directory / "manifest.json").read_text())
    q = manifest["quantization"]
    candidates = q["candidates"]
    assert set(candidates) == set(DEFAULT)
    budget = Budget(
        model.accuracy.min_mean_cosine,
        model.accuracy.min_cosine,
        model.accuracy.min_neighbour_agreement,
        model.optimize.max_size_mb,
        task=task,
        min_top1_agreement=model.accuracy.min_top1_agreement,
        max_probability_change=model.accuracy.max_probability_change,
        min_kendall_tau=model.accuracy.min_kendall_tau,
    )
    for recipe, c in candidates.items():
        for measure in MEASURES[task]:
            assert isinstance(c[measure], float), (recipe, measure)
        assert c["texts_per_s"] > 0 and c["size_bytes"] > 0
        scores = Scores(**{k: v for k, v in c.items() if k in Scores.__dataclass_fields__})
        assert c["verdict"].startswith("won" if recipe == q["recipe"] else "lost")
        assert c["failures"] == budget.failures(scores), recipe
    fp32 = candidates["fp32-optimized"]
    assert fp32["top1_agreement"] == 1.0
    if task == "text-classification":
        assert fp32["max_probability_change"] < 1e-4
    else:
        assert fp32["kendall_tau"] == pytest.approx(1.0)
    for int8 in DEFAULT[1:]:
        assert candidates[int8]["size_bytes"] < fp32["size_bytes"]
        if task == "text-classification":  # int8 really moved the probabilities
            assert candidates[int8]["max_probability_change"] > 0.0
        else:
            assert -1.0 <= candidates[int8]["kendall_tau"] <= 1.0
    winner = q["recipe"]
    assert q["budget_met"] is True and candidates[winner]["failures"] == []
    assert "top-1 agreement" in q["reason"] and "mean cosine" not in q["reason"]
    for recipe, c in candidates.items():
        if c["failures"]:
            assert f"{recipe} ({', '.join(c['failures'])})" in q["reason"]
    assert manifest["metrics"]["top1_agreement"] == candidates[winner]["top1_agreement"]
    quantized_ops = {"MatMulInteger", "DynamicQuantizeLinear", "QLinearMatMul", "QuantizeLinear"}
    assert bool(quantized_ops & set(q["op_counts"])) == (winner != "fp32-optimized")

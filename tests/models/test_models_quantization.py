"""Quantization that survives activation outliers, on a tiny random model given one.

Real base-size weights have a few hidden channels far above the rest; tiny random models do
not. ``outlier_bert`` injects one exactly, without changing what the model computes: the
first layer's value projection puts channel 0 of the attention context 300x higher and the
attention output projection divides that row back down. Only the output projection's
MatMul sees the outlier in its input, so only it is damaged by per-tensor dynamic int8, and
the sensitivity pass of ``dynamic-int8-selective`` must find exactly that layer.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

OUTLIER_NODE = "/encoder/layer.0/attention/output/dense/MatMul"
SCALE = 300.0


def _outlier_copy(source: Path, out: Path) -> Path:
    import torch
    import transformers

    shutil.copytree(source, out)
    model = transformers.AutoModel.from_pretrained(str(out))
    layer = model.encoder.layer[0].attention
    with torch.no_grad():
        layer.self.value.weight[0, :] *= SCALE
        layer.self.value.bias[0] *= SCALE
        layer.output.dense.weight[:, 0] /= SCALE
    model.save_pretrained(str(out))
    return out


@pytest.fixture(scope="module")
def outlier_bert(tiny_sources: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _outlier_copy(tiny_sources["bert"], tmp_path_factory.mktemp("outlier") / "bert")


def _export(source: Path, out: Path) -> Path:
    from optimize.export import export_onnx

    with warnings.catch_warnings():  # torch's tracer warnings, as run_optimize quiets them
        warnings.simplefilter("ignore")
        return export_onnx(source, out, task="feature-extraction")


def _feeds(source: Path, n: int = 8) -> list[dict[str, Any]]:
    import numpy as np
    from tokenizers import Tokenizer

    from optimize import corpus

    tok = Tokenizer.from_file(str(source / "tokenizer.json"))
    tok.enable_truncation(max_length=64)
    feeds = []
    for enc in tok.encode_batch(corpus.sample(n, offset=100)):
        ids = np.array([enc.ids], dtype=np.int64)
        feeds.append(
            {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": ids * 0}
        )
    return feeds


def test_sensitivity_ranks_the_layer_with_the_outlier_first(
    outlier_bert: Path, tiny_sources: dict[str, Path], tmp_path: Path
) -> None:
    """GIVEN the same tiny BERT with and without an injected activation outlier WHEN every
    weighted MatMul's dynamic int8 error is measured THEN the MatMul fed by the outlier
    channel is the worst layer (by a wide margin) with the outlier, and not without it."""
    from optimize.sensitivity import rank_layers

    plain = rank_layers(_export(tiny_sources["bert"], tmp_path / "plain"), _feeds(outlier_bert))
    ranked = rank_layers(_export(outlier_bert, tmp_path / "outlier"), _feeds(outlier_bert))
    assert {e.node for e in ranked} == {e.node for e in plain}
    assert len(ranked) >= 12 and all(e.op_type == "MatMul" for e in ranked)
    assert ranked[0].node == OUTLIER_NODE
    assert ranked[0].sqnr_db < ranked[1].sqnr_db - 10  # 10 dB: 10x the noise power
    assert plain[0].node != OUTLIER_NODE
    by_node = {e.node: e.sqnr_db for e in plain}
    assert by_node[OUTLIER_NODE] > ranked[0].sqnr_db + 10


def test_selective_and_smoothquant_recipes_record_their_decisions(
    outlier_bert: Path, tmp_path: Path
) -> None:
    """GIVEN the outlier model, the two outlier-proof recipes and a gate no int8 model can
    meet WHEN optimized with --force THEN each candidate is scored and says why it won
    (forced) or lost;
    dynamic-int8-selective tried 0 then more layers in fp32, kept the outlier layer first
    (and its quantized file keeps that MatMul in fp32), and static-int8-smoothquant records
    NNCF's algorithms."""
    pytest.importorskip("nncf")
    from optimize.pipeline import run_optimize
    from precast.project.config import load_config

    recipes = ["dynamic-int8-selective", "static-int8-smoothquant"]
    (tmp_path / "precast.toml").write_text(
        f'[models.outlier]\nsource = "{outlier_bert}"\n'
        f"[models.outlier.optimize]\nrecipes = {json.dumps(recipes)}\n"
        "calibration_texts = 16\neval_texts = 32\n"
        "[models.outlier.accuracy]\nmin_mean_cosine = 1.0\nmin_neighbour_agreement = 0.0\n"
    )
    model = load_config(tmp_path / "precast.toml").model("outlier")
    result = run_optimize(model, tmp_path / "artifacts", force=True, progress=lambda _m: None)
    q = json.loads((result.directory / "manifest.json").read_text())["quantization"]
    assert set(q["candidates"]) == set(recipes) and q["budget_met"] is False
    for name, c in q["candidates"].items():
        assert c["texts_per_s"] > 0 and c["size_bytes"] > 0
        assert c["verdict"].startswith("won" if name == q["recipe"] else "lost: over budget")
    selective = q["candidates"]["dynamic-int8-selective"]["decisions"]
    kept = [k["node"] for k in selective["kept_fp32"]]
    assert kept and kept[0] == OUTLIER_NODE and len(kept) <= 0.15 * selective["layers"]
    assert [s["kept_fp32"] for s in selective["steps"]][0] == 0
    assert selective["steps"][0]["verdict"].startswith("mean cosine")
    assert selective["gate_met_on_calibration"] is False
    smooth = q["candidates"]["static-int8-smoothquant"]["decisions"]
    assert smooth["quantizer"].startswith("nncf") and "SmoothQuant" in smooth["algorithms"]
    assert {"QuantizeLinear", "MatMulInteger"} & set(q["op_counts"])  # the shipped one is int8


def test_selective_recipe_keeps_the_outlier_layer_in_fp32(
    outlier_bert: Path, tmp_path: Path
) -> None:
    """GIVEN the outlier model's fused graph WHEN dynamic-int8-selective runs with a gate
    that accepts only once the outlier MatMul is excluded THEN the file it writes keeps that
    MatMul as a float MatMul and quantizes the others (MatMulInteger)."""
    import onnx

    from optimize.graph import optimize_graph
    from optimize.recipes import apply_recipe, preset

    exported = _export(outlier_bert, tmp_path / "export")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fused = optimize_graph(exported, tmp_path / "fused.onnx", source=outlier_bert)

    def gate(path: Path) -> list[str]:
        nodes = onnx.load(str(path)).graph.node
        quantized = any(
            n.name.startswith(OUTLIER_NODE) and n.op_type == "MatMulInteger" for n in nodes
        )
        return ["outlier layer quantized"] if quantized else []

    notes: dict[str, Any] = {}
    with warnings.catch_warnings():  # ORT's quantizer warns per tensor on fused graphs
        warnings.simplefilter("ignore")
        out = apply_recipe(
            preset("dynamic-int8-selective", int8_dot_product=True),
            fused,
            tmp_path / "selective.onnx",
            calibration_feeds=lambda: _feeds(outlier_bert),
            gate=gate,
            notes=notes,
        )
    nodes = onnx.load(str(out)).graph.node
    assert any(n.name == OUTLIER_NODE and n.op_type == "MatMul" for n in nodes)
    assert sum(n.op_type == "MatMulInteger" for n in nodes) >= 4  # the others are int8
    assert notes["gate_met_on_calibration"] is True
    assert [k["node"] for k in notes["kept_fp32"]] == [OUTLIER_NODE]
    assert [s["kept_fp32"] for s in notes["steps"]] == [0, 1]

"""Graph fusions on BASE-SIZE models (12 layers x 768 hidden) of every architecture.

Each randomly initialised base model (:mod:`base_models`) is exported by optimum and
optimized by :func:`optimize.graph.optimize_graph` into both graph variants, once per
module. What ORT fuses depends on the graph's shapes and patterns, not on the weights, so
these counts are what a real save of the same architecture gets (checked by hand on
all-mpnet-base-v2 and all-MiniLM-L6-v2). Each variant must also compute what the export
computes, padding included.
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import base_models
import numpy as np
import pytest
import tiny_models

from optimize import corpus
from optimize.export import export_onnx
from optimize.graph import count_ops, fused_ops, optimize_graph

pytestmark = pytest.mark.slow

ARCHITECTURES = [s.name for s in base_models.BASE]
LAYERS = base_models.LAYERS
BERT_LIKE = {
    "Attention": LAYERS,
    "EmbedLayerNormalization": 1,
    "SkipLayerNormalization": 2 * LAYERS,
    "BiasGelu": LAYERS,
}
# what the "fused" graph must hold per architecture. RoBERTa / XLM-R compute position ids
# from input_ids (a CumSum), which ORT's EmbedLayerNormalization fusion does not match: their
# embedding LayerNorm stays. MPNet's attention adds a relative position bias: optimize.fusions
# makes it a MultiHeadAttention with attention_bias (and its embedding Add + LayerNorm a
# SkipLayerNormalization).
FUSED = {
    "bert": BERT_LIKE,
    "distilbert": BERT_LIKE,
    "roberta": {"Attention": LAYERS, "SkipLayerNormalization": 2 * LAYERS, "BiasGelu": LAYERS},
    "xlm-roberta": {
        "Attention": LAYERS,
        "SkipLayerNormalization": 2 * LAYERS,
        "BiasGelu": LAYERS,
    },
    "mpnet": {
        "MultiHeadAttention": LAYERS,
        "SkipLayerNormalization": 2 * LAYERS + 1,
        "BiasGelu": LAYERS,
    },
}


@pytest.fixture(scope="module")
def base_graphs(
    base_sources: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, dict[str, Path]]]:
    """name -> {"export", "fused", "unfused"}: the optimum export and both graph variants
    (1.3 GB per architecture: removed after the module)."""
    out: dict[str, dict[str, Path]] = {}
    root = tmp_path_factory.mktemp("base-graphs")
    for name, source in base_sources.items():
        work = root / name
        with warnings.catch_warnings():  # torch's tracer warnings, as the pipeline does
            warnings.simplefilter("ignore")
            exported = export_onnx(source, work / "export", task="feature-extraction")
        out[name] = {"export": exported}
        for variant in ("fused", "unfused"):
            out[name][variant] = optimize_graph(
                exported, work / f"{variant}.onnx", source=source, fuse_attention=variant == "fused"
            )
    yield out
    shutil.rmtree(root, ignore_errors=True)


def test_base_models_are_base_size_saves_with_pretraining_heads(
    base_sources: dict[str, Path],
) -> None:
    """GIVEN the builder THEN each model is 12 x 768 / 12 heads, names the head it was
    pre-trained with, and is a sentence-transformers save (Transformer, Pooling, Normalize)."""
    for spec in base_models.BASE:
        config = json.loads((base_sources[spec.name] / "config.json").read_text())
        assert config["model_type"] == spec.name
        assert config["architectures"] == [spec.head]
        sizes = (
            (config["n_layers"], config["dim"], config["n_heads"], config["hidden_dim"])
            if spec.name == "distilbert"
            else (
                config["num_hidden_layers"],
                config["hidden_size"],
                config["num_attention_heads"],
                config["intermediate_size"],
            )
        )
        assert sizes == (12, 768, 12, 3072)
        assert config["max_position_embeddings"] >= 512
        modules = json.loads((base_sources[spec.name] / "modules.json").read_text())
        assert [m["type"].rsplit(".", 1)[-1] for m in modules] == [
            "Transformer",
            "Pooling",
            "Normalize",
        ]


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_each_architecture_fuses_attention_layernorm_and_gelu(
    name: str, base_graphs: dict[str, dict[str, Path]]
) -> None:
    """GIVEN a base-size export WHEN optimized THEN the "fused" graph has one attention node
    per layer and no Softmax left, and the "unfused" graph (static QDQ's) keeps attention
    as plain MatMuls but still has SkipLayerNorm and BiasGelu."""
    fused = count_ops(base_graphs[name]["fused"])
    assert fused_ops(fused) == FUSED[name], fused
    assert "Softmax" not in fused
    # 4 projections per layer stay MatMuls under an Attention node (QKV packed into it,
    # output) or 6 under MultiHeadAttention (Q, K, V kept apart), plus the 2 FFN MatMuls
    per_layer = 6 if "MultiHeadAttention" in fused else 3
    assert fused["MatMul"] == per_layer * LAYERS

    unfused = count_ops(base_graphs[name]["unfused"])
    assert fused_ops(unfused) == {
        "SkipLayerNormalization": FUSED[name]["SkipLayerNormalization"]
        if name == "mpnet"
        else 2 * LAYERS,
        "BiasGelu": LAYERS,
    }
    assert unfused["MatMul"] == 8 * LAYERS and unfused["Softmax"] == LAYERS


def test_mpnet_attention_takes_the_relative_position_bias(
    base_graphs: dict[str, dict[str, Path]],
) -> None:
    """THEN every MPNet MultiHeadAttention has a key padding mask and the shared relative
    position bias as attention_bias (inputs 4 and 5), and its Q/K/V inputs are MatMuls."""
    import onnx

    graph = onnx.load(str(base_graphs["mpnet"]["fused"]), load_external_data=False).graph
    producers = {o: n for n in graph.node for o in n.output}
    attention = [n for n in graph.node if n.op_type == "MultiHeadAttention"]
    assert len(attention) == LAYERS
    assert len({n.input[5] for n in attention}) == 1 and all(n.input[4] for n in attention)
    for node in attention:
        assert [producers[i].op_type for i in node.input[:3]] == ["MatMul"] * 3


def _inputs(source: Path, texts: list[str], input_names: list[str]) -> dict[str, np.ndarray]:
    """A right-padded batch, as edge/ tokenizes, with the model's own pad id."""
    from tokenizers import Tokenizer

    pad = int(json.loads((source / "config.json").read_text())["pad_token_id"])
    tok = Tokenizer.from_file(str(source / "tokenizer.json"))
    tok.enable_truncation(max_length=128)
    tok.enable_padding(pad_id=pad)
    enc = tok.encode_batch(texts)
    ids = np.array([e.ids for e in enc], dtype=np.int64)
    feed = {"input_ids": ids, "attention_mask": np.array([e.attention_mask for e in enc])}
    if "token_type_ids" in input_names:
        feed["token_type_ids"] = np.zeros_like(ids)
    return feed


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_each_fused_graph_computes_what_the_export_computes(
    name: str, base_sources: dict[str, Path], base_graphs: dict[str, dict[str, Path]]
) -> None:
    """GIVEN texts of very different lengths in one padded batch WHEN run through the
    export and both optimized graphs THEN the mean-pooled embeddings agree (cosine >= 0.9999)
    and every real token's hidden state is within 1e-4."""
    import onnxruntime as ort

    texts = [t[: 20 + 60 * i] for i, t in enumerate(corpus.sample(6, offset=4000))]
    outputs = {}
    for variant, path in base_graphs[name].items():
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feed = _inputs(base_sources[name], texts, [i.name for i in session.get_inputs()])
        outputs[variant] = session.run(None, feed)[0]
    mask = feed["attention_mask"].astype(bool)
    assert not mask.all(), "the batch must hold padding"
    weights = mask[..., None].astype(np.float32)

    def pooled(hidden: np.ndarray) -> np.ndarray:
        mean = (hidden * weights).sum(1) / weights.sum(1)
        return mean / np.linalg.norm(mean, axis=1, keepdims=True)

    ref = outputs.pop("export")
    for variant, hidden in outputs.items():
        assert np.abs(hidden - ref)[mask].max() < 1e-4, variant
        assert (pooled(hidden) * pooled(ref)).sum(1).min() >= 0.9999, variant


def test_the_manifest_records_what_was_fused(tiny_artifacts: dict[str, Path]) -> None:
    """GIVEN artifacts built by the pipeline THEN quantization.fusions names the model type
    and, per graph variant built, the fused ops and node count (the export's too), and the
    fused graph has one attention node per layer for every architecture."""
    from edge.manifest import read_manifest

    for spec in tiny_models.EMBEDDERS:
        fusions = read_manifest(tiny_artifacts[spec.name]).quantization.fusions
        assert fusions["model_type"] == spec.model_type
        fused = fusions["fused"]["fused"]
        attention = fused.get("Attention", 0) + fused.get("MultiHeadAttention", 0)
        assert attention == tiny_models.LAYERS, (spec.name, fused)
        assert 0 < fusions["fused"]["nodes"] < fusions["export_nodes"]

"""Step 2: offline graph optimization (attention / LayerNorm / GELU fusions).

Uses ONNX Runtime's transformer optimizer with python-level fusions only (what
``optimize_model(..., opt_level=0)`` runs), so the saved graph stays portable across CPUs and
execution providers; the runtime applies its own hardware-specific optimizations when the
session is created. Every architecture precast serves goes through ORT's BERT optimizer
(DistilBERT, RoBERTa and XLM-R are BERT to it; ``optimize_model`` itself would skip a
``distilbert`` model type); MPNet's attention, which adds a relative position bias, is fused
by :mod:`optimize.fusions`.
"""

from __future__ import annotations

import json
from pathlib import Path

# the contrib ops ORT's fusions produce: what :func:`fused_ops` reports
FUSED_OPS = (
    "Attention",
    "MultiHeadAttention",
    "EmbedLayerNormalization",
    "SkipLayerNormalization",
    "BiasGelu",
    "FastGelu",
    "Gelu",
)


def model_dims(config: dict[str, object]) -> tuple[int, int]:
    """(attention heads, hidden size) from a transformers config.json; DistilBERT names
    them ``n_heads`` / ``dim``. (0, 0) lets ORT detect them from the graph."""
    heads = config.get("num_attention_heads", config.get("n_heads", 0))
    hidden = config.get("hidden_size", config.get("dim", 0))
    if not isinstance(heads, int) or not isinstance(hidden, int) or heads <= 0:
        return 0, 0
    if hidden <= 0 or hidden % heads:
        return 0, 0
    return heads, hidden


def optimize_graph(model: Path, out: Path, *, source: Path, fuse_attention: bool = True) -> Path:
    """Fuse the graph. ``fuse_attention=False`` keeps Q/K/V and embeddings as plain
    MatMul/Gather nodes, which static QDQ quantization can cover (fused ``Attention`` and
    ``EmbedLayerNormalization`` contrib ops it cannot)."""
    import onnx
    import onnxruntime
    from onnxruntime.transformers.fusion_options import FusionOptions

    from optimize.fusions import encoder_model_class

    cfg = json.loads((source / "config.json").read_text())
    heads, hidden = model_dims(cfg)
    options = FusionOptions("bert")
    options.enable_attention = fuse_attention
    options.enable_embed_layer_norm = fuse_attention
    optimizer = encoder_model_class(str(cfg.get("model_type", "bert")))(
        onnx.load(str(model)), heads, hidden
    )
    optimizer.optimize(options)
    optimizer.topological_sort()
    optimizer.model.producer_name = "onnxruntime.transformers"
    optimizer.model.producer_version = onnxruntime.__version__
    optimizer.save_model_to_file(str(out))
    return out


def count_ops(model: Path) -> dict[str, int]:
    """Node counts by op type: structural facts the tests and the manifest use."""
    import onnx

    graph = onnx.load(str(model), load_external_data=False).graph
    counts: dict[str, int] = {}
    for node in graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def fused_ops(ops: dict[str, int]) -> dict[str, int]:
    """The fused contrib ops among ``ops`` (count_ops of an optimized graph)."""
    return {op: ops[op] for op in FUSED_OPS if ops.get(op)}

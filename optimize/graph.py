"""Step 2: offline graph optimization (attention / LayerNorm / GELU fusions).

Uses ONNX Runtime's transformer optimizer with python-level fusions only (``opt_level=0``),
so the saved graph stays portable across CPUs and execution providers; the runtime applies
its own hardware-specific optimizations when the session is created.
"""

from __future__ import annotations

import json
from pathlib import Path


def optimize_graph(model: Path, out: Path, *, source: Path, fuse_attention: bool = True) -> Path:
    """Fuse the graph. ``fuse_attention=False`` keeps Q/K/V and embeddings as plain
    MatMul/Gather nodes, which static QDQ quantization can cover (fused ``Attention`` and
    ``EmbedLayerNormalization`` contrib ops it cannot)."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    cfg = json.loads((source / "config.json").read_text())
    model_type = cfg.get("model_type", "bert")
    if model_type not in ("bert", "roberta", "distilbert", "xlm-roberta", "mpnet"):
        model_type = "bert"
    if model_type in ("roberta", "xlm-roberta", "mpnet"):
        model_type = "bert"
    options = FusionOptions("bert")
    options.enable_attention = fuse_attention
    options.enable_embed_layer_norm = fuse_attention
    optimized = optimize_model(
        str(model),
        model_type=model_type,
        num_heads=int(cfg.get("num_attention_heads", 0)),
        hidden_size=int(cfg.get("hidden_size", 0)),
        opt_level=0,
        use_gpu=False,
        optimization_options=options,
    )
    optimized.save_model_to_file(str(out))
    return out


def count_ops(model: Path) -> dict[str, int]:
    """Node counts by op type: structural facts the tests and the manifest use."""
    import onnx

    graph = onnx.load(str(model), load_external_data=False).graph
    counts: dict[str, int] = {}
    for node in graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts

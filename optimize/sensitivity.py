"""Per-layer sensitivity of dynamic int8 quantization, and the layers to keep in fp32.

Real weights have activation outliers (a few hidden channels two orders of magnitude above
the rest) that tiny random models do not; dynamic int8 quantizes each MatMul's input with
one per-tensor uint8 range, so an outlier channel flattens everything else in that
MatMul's input to a handful of levels. As Intel Neural Compressor and Olive do, we measure
each layer's own quantization error and keep the worst layers in fp32:

1. :func:`rank_layers` runs the fp32 graph once per calibration text with every weighted
   MatMul's input exposed as a graph output, quantizes that input and the weights exactly
   as ``quantize_dynamic`` does (ORT's ``quantize_data``: uint8 asymmetric per tensor for
   the activation, int8 symmetric per output channel for the weights) and scores the
   layer's output by ORT's signal-to-quantization-noise ratio (``qdq_loss_debug``);
2. :func:`keep_in_fp32` quantizes with the ``k`` worst layers excluded for
   ``k = 0, 1, 2, 4, ...`` up to :data:`MAX_FP32_FRACTION` of the layers, and stops at the
   first model the accuracy gate accepts on the calibration texts (the evaluation texts
   stay held out for the recipe's own score).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# at most this share of the quantizable layers is kept in fp32 (the rest of the speed and
# size win of int8 is what is left to sell)
MAX_FP32_FRACTION = 0.15
# texts of the calibration set the ranking runs (each layer's input is held for one text)
RANKING_TEXTS = 16
WEIGHTED_OPS = ("MatMul", "Attention")


@dataclass(frozen=True)
class LayerError:
    """One quantizable layer (a MatMul or fused Attention with constant weights) and the
    signal-to-quantization-noise ratio of its output under dynamic int8, in dB."""

    node: str
    op_type: str
    sqnr_db: float


@dataclass(frozen=True)
class Selection:
    """What the sensitivity pass decided: the layers kept in fp32, and why."""

    kept_fp32: tuple[LayerError, ...]
    layers: int  # quantizable layers in the graph
    tried: tuple[tuple[int, str], ...]  # (layers kept in fp32, the gate's verdict) per step
    met: bool  # the gate accepted the last step on the calibration texts

    def describe(self) -> dict[str, Any]:
        return {
            "sensitivity": "per-layer SQNR of dynamic int8 on calibration texts (ORT "
            "quantize_data + qdq_loss_debug); worst layers kept in fp32 until the accuracy "
            f"gate accepts on the calibration texts, at most {MAX_FP32_FRACTION:.0%} of the "
            "layers",
            "layers": self.layers,
            "kept_fp32": [
                {"node": e.node, "op_type": e.op_type, "sqnr_db": round(e.sqnr_db, 2)}
                for e in self.kept_fp32
            ],
            "steps": [{"kept_fp32": k, "verdict": v} for k, v in self.tried],
            "gate_met_on_calibration": self.met,
        }


def _weighted_layers(model: Any) -> list[tuple[Any, np.ndarray]]:
    """(node, weight) for every MatMul/Attention whose second input is an initializer."""
    from onnx import numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    out = []
    for node in model.graph.node:
        if node.op_type in WEIGHTED_OPS and len(node.input) > 1 and node.input[1] in inits:
            weight = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
            if weight.ndim == 2:
                out.append((node, weight))
    return out


def _dynamic_int8(
    x: np.ndarray, w: np.ndarray, *, per_channel: bool, reduce_range: bool
) -> np.ndarray:
    """``x @ w`` with ``x`` and ``w`` quantized as ``quantize_dynamic`` quantizes them."""
    from onnx import TensorProto
    from onnxruntime.quantization.quant_utils import quantize_data

    zp, scale, qx = quantize_data(x.ravel(), TensorProto.UINT8, symmetric=False)
    xq = (qx.astype(np.float32).reshape(x.shape) - float(zp)) * float(scale)
    if per_channel:  # one scale per output column, as ORT's MatMul weights (axis 1)
        cols = [
            quantize_data(w[:, j], TensorProto.INT8, True, reduce_range) for j in range(w.shape[1])
        ]
        wq = np.stack([(q.astype(np.float32) - float(z)) * float(s) for z, s, q in cols], axis=1)
    else:
        z, s, q = quantize_data(w.ravel(), TensorProto.INT8, True, reduce_range)
        wq = (q.astype(np.float32).reshape(w.shape) - float(z)) * float(s)
    return np.asarray(xq @ wq, dtype=np.float32)


def rank_layers(
    graph: Path,
    feeds: Iterable[dict[str, np.ndarray]],
    *,
    per_channel: bool = True,
    reduce_range: bool = False,
) -> list[LayerError]:
    """Every quantizable layer of ``graph``, the most damaged by dynamic int8 first."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization.qdq_loss_debug import compute_signal_to_quantization_noice_ratio

    model = onnx.load(str(graph))
    layers = _weighted_layers(model)
    exposed = sorted({node.input[0] for node, _ in layers})
    known = {o.name for o in model.graph.output}
    for name in exposed:
        if name not in known:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    with tempfile.TemporaryDirectory(prefix="precast-sensitivity-") as tmp:
        augmented = Path(tmp) / "augmented.onnx"
        onnx.save(model, str(augmented), save_as_external_data=True, location="weights.bin")
        session = ort.InferenceSession(str(augmented), options, providers=["CPUExecutionProvider"])
        fp32: dict[str, list[np.ndarray]] = {n.name: [] for n, _ in layers}
        int8: dict[str, list[np.ndarray]] = {n.name: [] for n, _ in layers}
        for feed in feeds:
            inputs = {i.name: feed[i.name] for i in session.get_inputs()}
            values = dict(zip(exposed, session.run(exposed, inputs), strict=True))
            for node, weight in layers:
                x = values[node.input[0]].reshape(-1, weight.shape[0]).astype(np.float32)
                fp32[node.name].append((x @ weight).ravel())
                int8[node.name].append(
                    _dynamic_int8(
                        x, weight, per_channel=per_channel, reduce_range=reduce_range
                    ).ravel()
                )
    errors = [
        LayerError(
            node.name,
            node.op_type,
            compute_signal_to_quantization_noice_ratio(fp32[node.name], int8[node.name]),
        )
        for node, _ in layers
    ]
    return sorted(errors, key=lambda e: e.sqnr_db)


def steps(layers: int) -> list[int]:
    """How many of the worst layers each attempt keeps in fp32: 0, 1, 2, 4, ... up to the
    cap (the cap itself is always the last attempt)."""
    cap = max(1, math.floor(layers * MAX_FP32_FRACTION)) if layers else 0
    out, k = [0], 1
    while k < cap:
        out.append(k)
        k *= 2
    return out + [cap] if cap else out


def keep_in_fp32(
    ranked: list[LayerError],
    quantize: Callable[[list[str]], Path],
    gate: Callable[[Path], list[str]],
) -> tuple[Path, Selection]:
    """Quantize with the worst layers excluded, a few more each time, until ``gate`` (the
    accuracy failures on the calibration texts) returns none or the cap is reached. Returns
    the last model written and what was decided."""
    tried: list[tuple[int, str]] = []
    out: Path | None = None
    met = False
    for k in steps(len(ranked)):
        out = quantize([e.node for e in ranked[:k]])
        failures = gate(out)
        tried.append((k, "; ".join(failures) if failures else "accepted"))
        if not failures:
            met = True
            break
    if out is None:  # pragma: no cover - steps() always yields k = 0
        raise RuntimeError("the sensitivity pass made no attempt")
    kept = tuple(ranked[: tried[-1][0]])
    return out, Selection(kept, len(ranked), tuple(tried), met)

"""Step 5b: the variants next to the CPU winner, each gated on the build host.

The CPU winner is the default variant (``model.onnx``, ONNX Runtime CPU). When the model's
targets include ``modal``, a CUDA variant is emitted too: the fused fp32 graph converted to
fp16 (I/O kept fp32) with ONNX Runtime's transformer tools. There is no GPU on the build
host, so its accuracy gate runs the same fp16 file on ONNX Runtime's CPU provider against
the fp32 reference (the CUDA kernels differ from these within fp16 rounding); the result is
recorded under the host kind :data:`edge.host.CUDA`. A variant that misses the budget is
not emitted (the build says so), and the artifact still ships its CPU winner.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import edge
from edge.health import smoke_vectors
from edge.host import CUDA
from edge.manifest import VariantSpec, sha256_file
from optimize.evaluate import accuracy
from optimize.isa import cpu_info
from optimize.select import Budget
from optimize.steps import Build, Reference, stage
from precast.config import ModelConfig

CUDA_VARIANT = "cuda-fp16"
CUDA_FILE = "model.cuda-fp16.onnx"
CUDA_PROVIDER = "CUDAExecutionProvider"


@dataclass(frozen=True)
class BuiltVariant:
    spec: VariantSpec  # sha256/size of ``path``; certified under the host kind it targets
    path: Path


def planned(model: ModelConfig) -> list[str]:
    """The extra variants this model's targets call for (part of the build fingerprint)."""
    return [CUDA_VARIANT] if "modal" in model.targets else []


def to_fp16(fp32_graph: Path, out: Path) -> Path:
    """fp16 weights and activations, fp32 inputs/outputs (ORT transformer tools)."""
    import onnx
    from onnxruntime.transformers.onnx_model import OnnxModel

    model = OnnxModel(onnx.load(str(fp32_graph)))
    model.convert_float_to_float16(keep_io_types=True)
    model.save_model_to_file(str(out))
    return out


def cuda_fp16(
    build: Build, fused_fp32: Path, ref: Reference, tokenizer: Path, budget: Budget
) -> BuiltVariant | None:
    """The CUDA variant, gated on the CPU; None (and a line of progress) if it fails."""
    started = build.tick(f"variant {CUDA_VARIANT}: fp16 for CUDA, gated on ORT CPU")
    cand = build.work / "variants" / CUDA_VARIANT
    stage(cand, to_fp16(fused_fp32, build.work / "fp16.onnx"), tokenizer, ref.base)
    model = edge.load(cand)  # ORT CPU here: the same fp16 graph the GPU will run
    vectors = model.predict(ref.eval_texts, enforce_limits=False)
    mean_cos, min_cos, agree = accuracy(vectors, ref.vectors)
    size = (cand / "model.onnx").stat().st_size
    from optimize.evaluate import Scores

    scores = Scores(mean_cos, min_cos, agree, 0.0, size)
    failures = [f for f in budget.failures(scores) if not f.startswith("size")]
    build.done(
        started,
        f"mean cos {mean_cos:.4f}  min cos {min_cos:.4f}  nn {agree:.3f}  {size / 1e6:.1f} MB"
        + (f"  NOT emitted: {'; '.join(failures)}" if failures else ""),
    )
    if failures:
        return None
    import onnxruntime

    entry: dict[str, Any] = {
        "mean_cosine": mean_cos,
        "min_cosine": min_cos,
        "neighbour_agreement": agree,
        "engine": f"onnxruntime {onnxruntime.__version__} CPUExecutionProvider (fp16 graph)",
        "plan": "bucketed on CUDA; gated one text per run on the CPU",
        "measured_on": cpu_info(),
        "how": "accuracy gate of the fp16 file on ORT CPU of the build host (no GPU); CUDA "
        "kernels differ within fp16 rounding. texts/s on a GPU: benchmarks/bench_gpu.py",
    }
    from optimize.artifact import smoke_texts

    smoke = smoke_vectors(model, smoke_texts(ref))
    path = build.work / CUDA_FILE
    shutil.move(str(cand / "model.onnx"), path)
    spec = VariantSpec(
        CUDA_VARIANT,
        CUDA_FILE,
        sha256_file(path),
        path.stat().st_size,
        provider=CUDA_PROVIDER,
        precision="fp16",
        recipe="fp32-optimized -> fp16 (keep_io_types)",
        certified={CUDA: entry},
        smoke=tuple(tuple(round(float(x), 6) for x in v) for v in smoke),
    )
    return BuiltVariant(spec, path)

"""Step 5b: the variants next to the CPU winner, each gated on the build host.

OpenVINO (``[models.X.optimize] engines = [..., "openvino"]``, x86 with ``precast[openvino]``
installed): the OpenVINO runtime on the static int8 QDQ candidate (``openvino-int8``) and,
on a CPU with native bf16, in bf16 on the fp32 export (``openvino-bf16``), both reading
ONNX. Each is scored like a recipe (accuracy and texts/s through ``edge``, so with the
engine's own plan: same-length groups on 2 streams for OpenVINO, see
:mod:`edge.engines.openvino`) and shipped only if it meets the budget *and* is faster than
the ORT CPU winner by more than the selection rule's noise band, measured in the same build.

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
from edge.file_hash import sha256_file
from edge.host import CUDA
from edge.manifest import Measurement, VariantSpec
from edge.smoke import smoke_vectors
from optimize.evaluate import accuracy
from optimize.isa import cpu_info
from optimize.select import SPEED_TIE, Budget
from optimize.smoke_set import smoke_texts
from optimize.steps import Build, Reference, stage
from precast.project.config import ModelConfig

CUDA_VARIANT = "cuda-fp16"
CUDA_FILE = "model.cuda-fp16.onnx"
CUDA_PROVIDER = "CUDAExecutionProvider"
OPENVINO_INT8 = "openvino-int8"
OPENVINO_BF16 = "openvino-bf16"
OPENVINO_INT8_NNCF = "openvino-int8-nncf"
STATIC_RECIPE = "static-int8-per-channel"  # the QDQ file OpenVINO runs in int8
NNCF_RECIPE = "nncf.quantize(TRANSFORMER) on the fp32 export"
# variant -> (precision, what its file is)
OPENVINO_VARIANTS = {
    OPENVINO_INT8: ("int8", STATIC_RECIPE),
    OPENVINO_INT8_NNCF: ("int8", NNCF_RECIPE),
    OPENVINO_BF16: ("bf16", "fp32 export"),
}
VERDICT_SUFFIX = ".verdict.json"  # work/variants/<name>.verdict.json: why it won or lost


@dataclass(frozen=True)
class BuiltVariant:
    spec: VariantSpec  # sha256/size of ``path``; certified under the host kind it targets
    path: Path


def planned(model: ModelConfig) -> list[str]:
    """The extra variants this model's targets and engines call for (part of the build
    fingerprint); OpenVINO ones are candidates, shipped only if they win."""
    out = [CUDA_VARIANT] if "modal" in model.targets else []
    if "openvino" in model.optimize.engines:
        if STATIC_RECIPE in model.optimize.recipes:
            out.append(OPENVINO_INT8)
        out.append(OPENVINO_INT8_NNCF)  # OpenVINO's own int8 path; needs nncf at build
        if cpu_info()["native_bf16"]:
            out.append(OPENVINO_BF16)
    return out


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

    entry = Measurement(
        mean_cosine=mean_cos,
        min_cosine=min_cos,
        neighbour_agreement=agree,
        engine=f"onnxruntime {onnxruntime.__version__} CPUExecutionProvider (fp16 graph)",
        plan="bucketed on CUDA; gated one text per run on the CPU",
        measured_on=cpu_info(),
        how="accuracy gate of the fp16 file on ORT CPU of the build host (no GPU); CUDA "
        "kernels differ within fp16 rounding. texts/s on a GPU: benchmarks/bench_gpu.py",
    )

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


def _stage_on_openvino(build: Build, name: str, onnx_file: Path, ref: Reference,
                       tokenizer: Path) -> tuple[Path, VariantSpec]:  # fmt: skip
    """A candidate directory whose only variant is ``onnx_file`` on the OpenVINO engine."""
    from dataclasses import replace

    from edge.manifest import DEFAULT_MODEL_FILE, read_manifest
    from optimize.steps import write_manifest

    cand = build.work / "variants" / name
    shutil.copyfile(onnx_file, build.work / f"{name}.onnx")
    stage(cand, build.work / f"{name}.onnx", tokenizer, ref.base)
    path = cand / DEFAULT_MODEL_FILE
    spec = VariantSpec(
        name, DEFAULT_MODEL_FILE, sha256_file(path), path.stat().st_size,
        engine="openvino", provider="CPU",
        precision=OPENVINO_VARIANTS[name][0], recipe=OPENVINO_VARIANTS[name][1],
    )  # fmt: skip
    write_manifest(cand, replace(read_manifest(cand), listed_variants=(spec,)))
    return cand, spec


def openvino_variant(
    build: Build,
    name: str,
    onnx_file: Path,
    ref: Reference,
    *,
    tokenizer: Path,
    budget: Budget,
    default_tps: float,
) -> BuiltVariant | None:
    """Score ``onnx_file`` on the OpenVINO runtime; the variant if it wins, else None."""
    import importlib.util
    from dataclasses import replace

    from edge.host import host_kind
    from optimize.evaluate import score
    from optimize.steps import TIMING_TEXTS

    started = build.tick(f"variant {name}: OpenVINO, gated here")
    if importlib.util.find_spec("openvino") is None:
        why = "NOT built: openvino is not installed (pip install precast[openvino])"
        record_verdict(build, name, {"verdict": why})
        build.done(started, why)
        return None
    cand, spec = _stage_on_openvino(build, name, onnx_file, ref, tokenizer)
    timing = min(len(ref.eval_texts), TIMING_TEXTS)
    edge_model = edge.load(cand)
    s, _ = score(edge_model, ref.vectors, ref.eval_texts, spec.size, timing_texts=timing)
    failures = [f for f in budget.failures(s) if not f.startswith("size")]
    if not failures and s.texts_per_s <= default_tps * (1 + SPEED_TIE):
        failures.append(f"{s.texts_per_s:.0f} texts/s: not {SPEED_TIE:.0%} faster than the "
                        f"ORT CPU winner's {default_tps:.0f}")  # fmt: skip
    verdict = f"NOT emitted: {'; '.join(failures)}" if failures else "emitted"
    record_verdict(build, name, {**s.as_dict(), "failures": failures, "verdict": verdict})
    build.done(
        started,
        f"mean cos {s.mean_cosine:.4f}  min cos {s.min_cosine:.4f}  "
        f"nn {s.neighbour_agreement:.3f}  {s.texts_per_s:.0f} texts/s  {verdict}",
    )
    if failures:
        return None
    import openvino

    entry = Measurement.from_json(
        {
            **s.as_dict(),
            "engine": f"openvino {openvino.__version__} CPU ({spec.precision})",
            "plan": edge_model.plan.describe(),
            "measured_on": cpu_info(),
            "how": "accuracy gate and timing on the build host, same texts as the ORT recipes",
        }
    )
    path = build.work / f"model.{name}.onnx"
    shutil.move(str(cand / spec.file), path)
    return BuiltVariant(replace(spec, file=path.name, certified={host_kind(): entry}), path)


def record_verdict(build: Build, name: str, entry: dict[str, Any]) -> None:
    """Why variant ``name`` was emitted or not, for the manifest (:func:`verdicts`)."""
    import json

    folder = build.work / "variants"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}{VERDICT_SUFFIX}").write_text(json.dumps(entry, sort_keys=True))


def verdicts(build: Build) -> dict[str, Any]:
    """Every gated variant's scores and verdict, emitted or not."""
    import json

    folder = build.work / "variants"
    files = sorted(folder.glob(f"*{VERDICT_SUFFIX}")) if folder.is_dir() else []
    return {f.name.removesuffix(VERDICT_SUFFIX): json.loads(f.read_text()) for f in files}


def nncf_int8(build: Build, ref: Reference) -> Path | None:
    """The fp32 export quantized by NNCF (OpenVINO's own int8 path: SmoothQuant, static
    int8 QDQ, fast bias correction), as a QDQ ONNX file OpenVINO reads; None without nncf."""
    from optimize.recipes import SMOOTHQUANT_RECIPE, apply_recipe, nncf_available, preset
    from optimize.steps import calibration_feeds

    if not nncf_available():
        why = "NOT built: nncf is not installed (pip install precast[openvino])"
        record_verdict(build, OPENVINO_INT8_NNCF, {"verdict": why})
        build.progress(f"      variant {OPENVINO_INT8_NNCF}: {why}")
        return None
    inputs = [t.name for t in ref.base.inputs]
    out = build.work / "nncf-int8.onnx"
    return apply_recipe(
        preset(SMOOTHQUANT_RECIPE),
        build.work / "reference" / "model.onnx",  # the fp32 export: standard ONNX ops only
        out,
        calibration_feeds=lambda: calibration_feeds(ref, inputs),
    )


def build_extra(
    build: Build,
    ref: Reference,
    *,
    fused: Path | None,
    tokenizer: Path,
    winner_tps: float,
) -> list[BuiltVariant]:
    """Every variant :func:`planned` names that passes its gate (CUDA first)."""
    from optimize.steps import budget_of

    budget = budget_of(build.model)
    out: list[BuiltVariant | None] = []
    for name in planned(build.model):
        if name == CUDA_VARIANT and fused is not None:
            out.append(cuda_fp16(build, fused, ref, tokenizer, budget))
        elif name in OPENVINO_VARIANTS:
            source = {
                OPENVINO_INT8: build.work / "candidates" / STATIC_RECIPE / "model.onnx",
                OPENVINO_BF16: build.work / "reference" / "model.onnx",  # the fp32 export
            }.get(name) or nncf_int8(build, ref)
            if source is None:
                continue
            out.append(
                openvino_variant(
                    build,
                    name,
                    source,
                    ref,
                    tokenizer=tokenizer,
                    budget=budget,
                    default_tps=winner_tps,
                )  # fmt: skip
            )
    return [b for b in out if b is not None]

"""GPU: texts/s, p50/p99 and the share of graph nodes ONNX Runtime runs on the CUDA provider.

For a machine with an NVIDIA GPU and ``onnxruntime-gpu`` installed (the Modal image's
engine). The artifact loads through ``edge`` exactly as the Modal host loads it (CUDA
first, CPU fallback, length-bucketed batches), then:

* throughput: N real texts (stdlib docstrings) in one ``predict`` call, best of 3;
* latency: one text per call, p50/p99 over 200 calls;
* agreement: mean / min cosine of its vectors to the CPU default variant's on 500 texts;
* node placement: a profiled session on the chosen variant's file runs a few batches and
  every ``Node`` event of the ONNX Runtime profile is counted by the provider it ran on (by
  count and by time). With CUDA active ``edge`` runs the artifact's ``cuda-fp16`` variant;
  the CPU int8 file has ops CUDA does not implement (``DynamicQuantizeLinear``,
  ``MatMulInteger``...), and this share says how much of it would fall back.

Writes ``benchmarks/results/gpu.json`` (which ``precast cost`` reads) only when the CUDA
provider is active; ``--allow-cpu`` runs the same steps on CPU as a smoke test and writes
nothing unless ``--out`` is given.

    flock /tmp/precast-bench.lock .venv/bin/python -m benchmarks.bench_gpu \\
        [--artifact DIR] [--texts 2000] [--allow-cpu] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, header, percentiles, write

REPO = Path(__file__).resolve().parents[1]
CUDA = "CUDAExecutionProvider"


def gpu_name() -> str | None:
    """The first GPU's name from nvidia-smi, or None where there is none."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    done = subprocess.run(
        [exe, "--query-gpu=name", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    name = done.stdout.strip().splitlines()
    return name[0] if done.returncode == 0 and name else None


def node_placement(
    model_path: Path, providers: list[str], feeds_list: list[dict[str, Any]]
) -> dict[str, Any]:
    """Run ``feeds_list`` on a profiled session; count Node events per provider."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        opts = ort.SessionOptions()
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(tmp) / "profile")
        opts.log_severity_level = 3
        session = ort.InferenceSession(str(model_path), sess_options=opts, providers=providers)
        output = session.get_outputs()[0].name
        for feeds in feeds_list:
            session.run([output], feeds)
        events = json.loads(Path(session.end_profiling()).read_text(encoding="utf-8"))
    count: Counter[str] = Counter()
    micros: Counter[str] = Counter()
    for event in events:
        provider = event.get("args", {}).get("provider")
        if event.get("cat") == "Node" and provider:
            count[provider] += 1
            micros[provider] += int(event.get("dur", 0))
    total_n, total_us = sum(count.values()), sum(micros.values())
    return {
        "providers": session.get_providers(),
        "node_runs": dict(count),
        "node_us": dict(micros),
        "cuda_share_by_count": count[CUDA] / total_n if total_n else 0.0,
        "cuda_share_by_time": micros[CUDA] / total_us if total_us else 0.0,
    }


def feeds_for(model: Any, texts: list[str]) -> list[dict[str, Any]]:
    """One padded batch per text group, as edge feeds the session."""
    import numpy as np

    out = []
    for start in range(0, len(texts), 8):
        encoded = model.tokenizer.encode(texts[start : start + 8])
        width = max(len(e.ids) for e in encoded)
        ids = np.full((len(encoded), width), model.tokenizer.pad_id, dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, enc in enumerate(encoded):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in model._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        out.append(feeds)
    return out


def agreement_with_cpu(artifact: Path, model: Any, texts: list[str]) -> dict[str, float]:
    """Mean / min cosine of ``model``'s vectors to the CPU default variant's on the same
    texts: whether a GPU host answers like the CPU hosts whose results share the cache."""
    import numpy as np

    import edge
    from edge.session import SessionConfig

    cpu = edge.load(artifact, session_config=SessionConfig(providers=("CPUExecutionProvider",)))
    a = np.asarray(model.predict(texts, enforce_limits=False), dtype=np.float64)
    b = np.asarray(cpu.predict(texts, enforce_limits=False), dtype=np.float64)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return {"mean": float(cos.mean()), "min": float(cos.min()), "texts": len(texts)}


def measure(artifact: Path, n_texts: int, *, providers: tuple[str, ...]) -> dict[str, Any]:
    import edge
    from edge.session import SessionConfig
    from optimize import corpus

    model = edge.load(artifact, session_config=SessionConfig(providers=providers))
    # the variant edge chose here: the CUDA fp16 one when CUDA is active, else the CPU one
    variant = model.variant.variant if model.variant is not None else model.manifest.variants[0]
    texts = corpus.sample(n_texts, offset=3000)
    model.predict(texts[:32], enforce_limits=False)  # warm-up: CUDA kernels, arena
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        model.predict(texts, enforce_limits=False)
        best = min(best, time.perf_counter() - t0)
    singles = []
    for text in texts[:200]:
        t0 = time.perf_counter()
        model.predict([text])
        singles.append(time.perf_counter() - t0)
    return {
        "texts": n_texts,
        "texts_per_s": n_texts / best,
        "cosine_to_cpu_default": agreement_with_cpu(artifact, model, texts[:500]),
        "single_text": percentiles(singles),
        "plan": model.plan.describe(),
        "placement": node_placement(
            artifact / variant.file, model.providers, feeds_for(model, texts[:64])
        ),
        "variant": model.variant.as_dict() if model.variant is not None else None,
        "recipe": variant.recipe or model.manifest.quantization.recipe,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifact", type=Path, default=None)
    ap.add_argument("--texts", type=int, default=2000)
    ap.add_argument("--allow-cpu", action="store_true", help="smoke-test the steps on CPU")
    ap.add_argument("--out", type=Path, default=None)
    args, _ = ap.parse_known_args()  # run_all passes every benchmark the same arguments
    m = header("GPU: throughput, latency, node placement")
    from edge.artifact_layout import read_latest_pointer

    artifact = args.artifact or read_latest_pointer(REPO / "artifacts" / "minilm")
    if artifact is None:
        raise SystemExit("no artifact: run `.venv/bin/precast optimize minilm` first")
    import onnxruntime as ort

    cuda = CUDA in ort.get_available_providers()
    if not cuda and not args.allow_cpu:
        print("# no CUDA provider here (onnxruntime-gpu + a GPU needed); --allow-cpu to smoke")
        return
    result = measure(artifact, args.texts, providers=(CUDA,) if cuda else ("CPUExecutionProvider",))
    print(json.dumps(result, indent=2))
    if result["placement"]["providers"][0] != CUDA and args.out is None:
        return  # CUDA did not load: never write CPU numbers as the GPU's
    out = args.out or RESULTS / "gpu.json"
    payload = {"machine": m, "gpu": gpu_name(), "artifact": artifact.name, "results": result}
    if out == RESULTS / "gpu.json":
        write("gpu", payload)
    else:
        out.write_text(json.dumps({"benchmark": "gpu", **payload}, indent=2) + "\n")
        print(f"# wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()

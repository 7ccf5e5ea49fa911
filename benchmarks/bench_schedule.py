"""CPU scheduling per engine: how the texts of one call reach the engine, same texts, one run.

ONNX Runtime on the artifact's ``model.onnx``:
  per-text, one run in flight x all cores as intra-op threads;
  per-text, one run in flight per core x 1 thread (edge's default on CPU);
  length-bucketed batches under edge's token budget, all cores (answers depend on neighbours).
OpenVINO on the fp32 export in bf16 (and f32), and on a static int8 QDQ file:
  same-length groups, one infer request per worker thread, NUM_STREAMS = workers (edge's);
  per-text, the same requests and streams;
  per-text through ``AsyncInferQueue`` with 2 requests, PERFORMANCE_HINT THROUGHPUT;
  per-text on one request, PERFORMANCE_HINT LATENCY (all cores to one request);
  same-length groups (texts of equal token count batched: no padding), LATENCY.

    /tmp/precast-benchq.sh .venv/bin/python -m benchmarks.bench_schedule [--texts 600]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import header, write

Feeds = dict[str, Any]


def feeds_of(ids: list[list[int]]) -> Feeds:
    a = np.asarray(ids, dtype=np.int64)
    return {"input_ids": a, "attention_mask": np.ones_like(a), "token_type_ids": np.zeros_like(a)}


def same_length_groups(lengths: list[int], max_group: int) -> list[list[int]]:
    by_len: dict[int, list[int]] = defaultdict(list)
    for i, n in enumerate(lengths):
        by_len[n].append(i)
    return [g[s : s + max_group] for g in by_len.values() for s in range(0, len(g), max_group)]


def ov_compile(path: Path, precision: str, config: dict[str, Any]) -> Any:
    import openvino as ov

    return ov.Core().compile_model(
        str(path), "CPU", {"INFERENCE_PRECISION_HINT": precision, **config}
    )


def ov_plans(path: Path, precision: str, encoded: list[list[int]]) -> dict[str, Callable[[], Any]]:
    import openvino as ov

    from edge.engines.openvino import open_openvino
    from edge.execution import ParallelRunner
    from edge.session import SessionConfig

    hint = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}[precision]
    edge_session, plan = open_openvino(path, SessionConfig(), precision=precision)
    runner = ParallelRunner(plan.workers)
    names = {i.name for i in edge_session.get_inputs()}

    def only(f: Feeds) -> Feeds:
        return {k: v for k, v in f.items() if k in names}

    singles = [only(feeds_of([e])) for e in encoded]

    edge_groups = [only(feeds_of([encoded[i] for i in g]))
                   for g in plan.groups([len(e) for e in encoded])]  # fmt: skip

    def per_text_streams() -> Any:
        return runner.map(lambda f: edge_session.run(None, f), singles)

    def edge_engine() -> Any:
        return runner.map(lambda f: edge_session.run(None, f), edge_groups)

    tput = ov_compile(path, hint, {"PERFORMANCE_HINT": "THROUGHPUT"})
    queue = ov.AsyncInferQueue(tput, 2)

    def async_queue() -> Any:
        out: list[Any] = [None] * len(singles)

        def done(request: Any, i: int) -> None:
            out[i] = np.array(request.get_output_tensor(0).data, copy=True)

        queue.set_callback(done)
        for i, f in enumerate(singles):
            queue.start_async(f, i)
        queue.wait_all()
        return out

    lat = ov_compile(path, hint, {"PERFORMANCE_HINT": "LATENCY"})
    request = lat.create_infer_request()
    groups = same_length_groups([len(e) for e in encoded], 32)
    grouped = [only(feeds_of([encoded[i] for i in g])) for g in groups]

    def latency_one() -> Any:
        return [np.array(request.infer(f)[0], copy=True) for f in singles]

    def latency_groups() -> Any:
        return [np.array(request.infer(f)[0], copy=True) for f in grouped]

    return {
        f"edge engine: {plan.mode}, {plan.workers} requests x {plan.threads} thread(s)": (
            edge_engine
        ),
        f"per-text, {plan.workers} requests x {plan.threads} thread(s)": per_text_streams,
        "per-text, AsyncInferQueue(2), THROUGHPUT": async_queue,
        "per-text, 1 request, LATENCY": latency_one,
        f"same-length groups ({len(groups)} runs), LATENCY": latency_groups,
    }


def ort_plans(artifact: Path, docs: list[str], cores: int) -> dict[str, Callable[[], Any]]:
    import edge
    from edge.session import SessionConfig

    def load(**kw: Any) -> Any:
        return edge.load(artifact, session_config=SessionConfig(**kw))

    one_run = load(intra_op_threads=cores, text_workers=1, execution="per-text")
    per_core = load(intra_op_threads=1, text_workers=cores, execution="per-text")
    bucketed = load(intra_op_threads=cores, execution="bucketed")
    encoded = one_run.tokenizer.encode(docs)  # tokenized once: the plans time the engine
    return {
        f"per-text, 1 run x {cores} threads": lambda: one_run.predict_encoded(encoded),
        f"per-text, {cores} runs x 1 thread (default)": lambda: per_core.predict_encoded(encoded),
        f"bucketed, {cores} threads": lambda: bucketed.predict_encoded(encoded),
    }


def timed(plans: dict[str, Callable[[], Any]], n: int, rounds: int) -> dict[str, float]:
    best: dict[str, float] = {}
    for fn in plans.values():
        fn()  # warm-up (compiles shapes, fills arenas)
    for _ in range(rounds):  # alternate, so drift hits all plans alike
        for name, fn in plans.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - t0)
    return {name: n / s for name, s in best.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts", type=int, default=600)
    ap.add_argument("--rounds", type=int, default=2)
    args, _ = ap.parse_known_args()
    logging.disable(logging.WARNING)
    m = header("CPU scheduling per engine: per-text vs groups vs bucketed, threads vs streams")
    from benchmarks.bench_engines import build_files, ensure_openvino, retrieval_pairs

    ensure_openvino()
    import edge
    from edge.artifact_layout import latest_artifact
    from edge.session import visible_cpus
    from precast.project.config import load_config

    cfg = load_config()
    artifact = latest_artifact(cfg.artifacts_dir, "minilm")
    _, docs = retrieval_pairs(args.texts)
    model = edge.load(artifact)
    encoded = [e.ids for e in model.tokenizer.encode(docs)]
    cores = visible_cpus()
    results: dict[str, dict[str, float]] = {}
    results["onnxruntime int8 (artifact)"] = timed(ort_plans(artifact, docs, cores), len(docs),
                                                   args.rounds)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        files = build_files(cfg.model("minilm"), Path(tmp))
        for label, path, precision in (
            ("openvino bf16 (fp32 export)", files["fp32"], "bf16"),
            ("openvino int8 (static QDQ)", files["static-int8"], "int8"),
        ):
            results[label] = timed(ov_plans(path, precision, encoded), len(docs), args.rounds)
    for engine, plans in results.items():
        print(f"\n{engine}")
        for name, tps in plans.items():
            print(f"  {name:<52} {tps:8.1f} texts/s", flush=True)
    write("schedule", {"machine": m, "texts": len(docs), "results": results})


if __name__ == "__main__":
    main()

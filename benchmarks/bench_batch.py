"""Batch precompute: the whole job vs the bare edge runtime on the same texts, vs
sentence-transformers (PyTorch fp32 and bf16), and a 200k-record memory run.

Same process, same texts, interleaved repeats (the CPU may be shared: compare ratios):
  bare      EdgeModel.predict(texts) over the whole list, on a freshly loaded model (load
            not timed), as the job's own model is
  pipeline  batch.job.run_job on the same texts as JSONL: read, validate, cache lookup
            (SQLite, all misses), infer in chunks, write parts + cache + checkpoints;
            timed from the job's `start` event (model loaded) to its `summary` event
  ST        SentenceTransformer(model_dir).encode(texts, batch_size=32), fp32 and bf16

Memory: `python -m batch run` on a generated input of --memory-records short records
(--memory-distinct distinct texts, shuffled: every record is read, validated, looked up
and written; repeats are served from the cache as in a real nightly run). RSS is sampled
from /proc; peak RSS from getrusage. Fails if RSS grows more than --max-growth-mb after
the first 10% of records.

    .venv/bin/python -m benchmarks.bench_batch [--texts 1200] [--max-chars 300] [--repeats 5]
        [--memory-records 200000] [--memory-distinct 4000] [--skip-st] [--skip-memory]
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from benchmarks.common import best_of, header, write


def _ts(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["ts"]).timestamp()


def pipeline_once(artifact: Path, source: Path, tmp: Path, tag: str) -> dict[str, float]:
    from batch.job import run_job
    from batch.settings import JobSettings

    settings = JobSettings(
        artifact=str(artifact),
        input=str(source),
        output=str(tmp / f"out-{tag}"),
        cache_url=f"sqlite:{tmp / f'cache-{tag}.sqlite'}",
        progress=False,
    )
    log = io.StringIO()
    t0 = time.perf_counter()
    code = run_job(settings, log_stream=log, out=io.StringIO())
    wall = time.perf_counter() - t0
    assert code == 0, log.getvalue()[-2000:]
    events = {e["event"]: e for e in map(json.loads, log.getvalue().splitlines())}
    return {"processing_s": _ts(events["summary"]) - _ts(events["start"]), "wall_s": wall}


def throughput(args: argparse.Namespace, artifact: Path, results: dict[str, Any]) -> None:
    import edge
    from optimize import corpus

    texts = [t[: args.max_chars] for t in corpus.sample(args.texts, offset=1500)]
    n = len(texts)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        source = tmp / "in.jsonl"
        source.write_text(
            "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts))
        )
        bare, pipe, wall = [], [], []
        for r in range(args.repeats):  # interleaved, so load changes hit both alike
            # A freshly loaded model on both sides: the job loads its own, and ORT's first
            # runs (arena growth, new shapes) cost ~5% more than warm ones. Load not timed.
            model = edge.load(artifact)
            t0 = time.perf_counter()
            model.predict(texts, enforce_limits=False)
            bare.append(time.perf_counter() - t0)
            timing = pipeline_once(artifact, source, tmp, str(r))
            pipe.append(timing["processing_s"])
            wall.append(timing["wall_s"])
            print(
                f"  repeat {r}: bare {n / bare[-1]:.1f}/s  pipeline {n / pipe[-1]:.1f}/s",
                flush=True,
            )
    results["texts"] = n
    results["max_chars"] = args.max_chars
    results["bare_edge_texts_per_s"] = n / min(bare)
    results["pipeline_texts_per_s"] = n / min(pipe)
    results["pipeline_incl_model_load_texts_per_s"] = n / min(wall)
    # Paired: each repeat runs bare then pipeline back to back, so a noisy neighbour hits
    # both; the median of the per-repeat ratios is robust to one slow repeat on either side.
    paired = sorted(p / b - 1.0 for p, b in zip(pipe, bare, strict=True))
    results["pipeline_overhead"] = paired[len(paired) // 2]
    results["pipeline_overhead_per_repeat"] = [round(x, 4) for x in paired]
    results["repeats"] = args.repeats
    print(f"bare edge runtime          {results['bare_edge_texts_per_s']:8.1f} texts/s")
    print(
        f"batch pipeline             {results['pipeline_texts_per_s']:8.1f} texts/s "
        f"(overhead, median of {args.repeats} paired repeats: "
        f"{results['pipeline_overhead']:+.1%}; target <= +10%)"
    )
    if args.skip_st:
        return
    import torch
    from sentence_transformers import SentenceTransformer

    from precast.project.config import load_config

    source_dir = load_config().model("minilm").source_dir()
    st = SentenceTransformer(str(source_dir), device="cpu")
    st.max_seq_length = model.manifest.max_tokens
    fp32 = best_of(lambda: st.encode(texts, batch_size=32), 1)
    results["st_fp32_texts_per_s"] = n / fp32
    print(f"sentence-transformers fp32 {n / fp32:8.1f} texts/s")
    st16 = SentenceTransformer(str(source_dir), device="cpu").to(torch.bfloat16)
    st16.max_seq_length = model.manifest.max_tokens
    bf16 = best_of(lambda: st16.encode(texts, batch_size=32), 1)
    results["st_bf16_texts_per_s"] = n / bf16
    print(f"sentence-transformers bf16 {n / bf16:8.1f} texts/s")
    results["pipeline_vs_st_fp32"] = (
        results["pipeline_texts_per_s"] / results["st_fp32_texts_per_s"]
    )
    results["pipeline_vs_st_bf16"] = (
        results["pipeline_texts_per_s"] / results["st_bf16_texts_per_s"]
    )


def _proc_mb(pid: int, field: str) -> float | None:
    """VmRSS (now) or VmHWM (peak since exec) of ``pid`` in MB, from /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def bare_peak_rss_mb(artifact: Path) -> float:
    """Peak RSS of a process that only loads the model and predicts a few short texts."""
    code = (
        f"import resource, edge; m = edge.load({str(artifact)!r}); "
        "m.predict(['a short text'] * 64); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1]) / 1024


def memory_run(args: argparse.Namespace, artifact: Path, results: dict[str, Any]) -> bool:
    from optimize import corpus

    rng = random.Random(5)
    words = " ".join(corpus.sample(400)).split()
    distinct = [
        f"{' '.join(rng.choice(words) for _ in range(rng.randint(3, 9)))} #{i}"
        for i in range(args.memory_distinct)
    ]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        source = tmp / "big.jsonl"
        with open(source, "w") as fh:
            for i in range(args.memory_records):
                fh.write(json.dumps({"id": f"m{i}", "text": rng.choice(distinct)}) + "\n")
        size_mb = source.stat().st_size / 1e6
        cmd = [
            sys.executable,
            "-m",
            "batch",
            "run",
            "--artifact",
            str(artifact),
            "--input",
            str(source),
            "--output",
            str(tmp / "out"),
            "--cache",
            f"sqlite:{tmp / 'cache.sqlite'}",
            "--no-progress",
        ]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        samples: list[tuple[int, float]] = []  # (records done, rss MB)
        peaks: list[float] = []
        done = [0]

        def sample() -> None:
            while proc.poll() is None:
                rss, hwm = _proc_mb(proc.pid, "VmRSS"), _proc_mb(proc.pid, "VmHWM")
                if rss is not None and hwm is not None:
                    samples.append((done[0], rss))
                    peaks.append(hwm)
                time.sleep(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        summary: dict[str, Any] = {}
        assert proc.stderr is not None
        for line in proc.stderr:
            event = json.loads(line)
            if event["event"] == "checkpoint":
                done[0] = event["records"]
            elif event["event"] == "summary":
                summary = event
        code = proc.wait()
        sampler.join()
        seconds = time.perf_counter() - t0
    # VmHWM resets at exec; getrusage(RUSAGE_CHILDREN) would also count the RSS this
    # (larger) process had when it forked the child, so it is only an upper bound.
    peak_mb = max(peaks, default=0.0)
    job_peak = summary.get("peak_rss_mb")
    tenth = args.memory_records // 10
    early = max((rss for n, rss in samples if 0 < n <= tenth), default=0.0)
    late = max((rss for n, rss in samples if n > tenth), default=0.0)
    growth = late - early
    ok = (
        code == 0 and summary.get("records") == args.memory_records and growth <= args.max_growth_mb
    )
    results["memory"] = {
        "records": args.memory_records,
        "distinct_texts": args.memory_distinct,
        "input_mb": round(size_mb, 1),
        "exit_code": code,
        "predicted": summary.get("predicted"),
        "skipped_cached": summary.get("skipped_cached"),
        "seconds": round(seconds, 1),
        "records_per_s": round(args.memory_records / seconds, 1),
        "peak_rss_mb": round(peak_mb, 1),
        "peak_rss_job_reported_mb": job_peak,
        "peak_rss_bare_load_and_predict_mb": round(bare_peak_rss_mb(artifact), 1),
        "rss_first_10pct_mb": round(early, 1),
        "rss_after_10pct_max_mb": round(late, 1),
        "rss_growth_mb": round(growth, 1),
        "max_growth_mb": args.max_growth_mb,
        "passed": ok,
    }
    print(
        f"memory: {args.memory_records} records ({size_mb:.0f} MB) in {seconds:.0f}s, "
        f"peak RSS {peak_mb:.0f} MB, growth after 10% {growth:+.1f} MB "
        f"({'ok' if ok else 'FAILED'}; limit {args.max_growth_mb} MB)"
    )
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--texts", type=int, default=1200)
    ap.add_argument("--max-chars", type=int, default=300, help="cut each docstring to this")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--memory-records", type=int, default=200_000)
    ap.add_argument("--memory-distinct", type=int, default=4000)
    ap.add_argument("--max-growth-mb", type=float, default=64.0)
    ap.add_argument("--skip-st", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    m = header("batch precompute: job vs bare edge runtime vs sentence-transformers")

    from edge.artifact_layout import latest_artifact
    from precast.project.config import load_config

    artifact = latest_artifact(load_config().artifacts_dir, "minilm")
    results: dict[str, Any] = {"artifact": artifact.name}
    ok = True
    if not args.skip_memory:  # first, while this process is small (see memory_run)
        ok = memory_run(args, artifact, results)
    throughput(args, artifact, results)
    write("batch", {"machine": m, "results": results})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Functions: Lambda cold start, asset size, warm latency, cache hits, local server throughput.

Same run, same texts (Python stdlib docstrings), same machine:

* cold start: a fresh process imports the Lambda handler and answers one recorded Function
  URL event (median of N): ours from the Lambda asset built for this Python (isolated with
  -S -s, like /var/task) and from the dev venv; next to a sentence-transformers handler
  doing the same (import, load the model dir, encode the event's inputs)
* Lambda asset unzipped size for x86_64 and arm64 (Lambda limit 250 MB, budget 150 MB)
* warm p50/p99 per request through the handler for 1 and 32 inputs (cache miss), next to
  sentence-transformers fp32 and bf16 encode() of the same texts; cache-hit p50
* local server (`precast serve`, uvicorn) throughput under 32 concurrent clients, with
  and without micro-batching

    .venv/bin/python -m benchmarks.bench_functions [--cold-runs 5] [--warm-requests 40]
        [--server-requests 256] [--skip-asset] [--skip-bf16]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import header, percentiles, write

REPO = Path(__file__).resolve().parents[1]
EVENT = REPO / "tests" / "events" / "function_url_predict.json"
ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "POWERTOOLS_TRACE_DISABLED": "true"}

OURS = """
import json, sys, time
t0 = time.perf_counter()
import functions.lambda_handler as h
t1 = time.perf_counter()
class Ctx:
    function_name = "bench"; memory_limit_in_mb = 2048; aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
r = h.handler(json.load(open(sys.argv[1])), Ctx())
assert r["statusCode"] == 200, r
print(json.dumps({"init_s": t1 - t0, "first_s": time.perf_counter() - t1}), file=sys.stderr)
"""


def st_handler_main(event_path: str, model_dir: str) -> None:
    """The sentence-transformers Lambda handler: module-level load, then one invocation."""
    t0 = time.perf_counter()
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_dir, device="cpu")
    t1 = time.perf_counter()

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        texts = json.loads(event["body"])["inputs"]
        vectors = model.encode(texts, normalize_embeddings=True)
        return {"statusCode": 200, "body": json.dumps({"predictions": vectors.tolist()})}

    event = json.loads(Path(event_path).read_text())
    assert handler(event, None)["statusCode"] == 200
    print(json.dumps({"init_s": t1 - t0, "first_s": time.perf_counter() - t1}), file=sys.stderr)


def _cold(cmd: list[str], env: dict[str, str], runs: int, cwd: Path = REPO) -> dict[str, float]:
    walls, inits = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=True)
        walls.append(time.perf_counter() - t0)
        inits.append(json.loads(done.stderr.strip().splitlines()[-1])["init_s"])
    return {
        "median_s": statistics.median(walls),
        "min_s": min(walls),
        "init_median_s": statistics.median(inits),
        "n": runs,
    }


def cold_starts(asset: Path | None, model_dir: Path, artifact: Path, runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **ENV, "PRECAST_CACHE_URL": "none"}
    if asset is not None:
        env = {**base, "PYTHONPATH": str(asset), "PYTHONDONTWRITEBYTECODE": "1"}
        out["precast_asset"] = _cold(  # cwd outside the repo: only the asset is importable
            [sys.executable, "-S", "-s", "-c", OURS, str(EVENT)], env, runs, cwd=asset.parent
        )
    env = {**os.environ, **base, "PRECAST_ARTIFACT_DIR": str(artifact)}
    out["precast_dev_venv"] = _cold([sys.executable, "-c", OURS, str(EVENT)], env, runs)
    st = [sys.executable, "-m", "benchmarks.bench_functions", "--st-handler", str(EVENT),
          str(model_dir)]  # fmt: skip
    out["sentence_transformers"] = _cold(st, {**os.environ, **ENV}, runs)
    out["speedup_vs_st"] = (
        out["sentence_transformers"]["median_s"]
        / (out.get("precast_asset") or out["precast_dev_venv"])["median_s"]
    )
    return out


def asset_sizes(artifact: Path, workdir: Path) -> dict[str, Any]:
    from precast.project.lambda_asset import TARGET_BYTES, build_lambda_asset

    sizes: dict[str, Any] = {}
    for arch in ("x86_64", "arm64"):
        report = build_lambda_asset("minilm", artifact, workdir, arch=arch, python="3.12")
        sizes[arch] = {
            "unzipped_mb": round(report.unzipped_mb, 1),
            "zip_mb": round(report.zipped_bytes / 1024 / 1024, 1),
            "within_150mb_budget": report.unzipped_bytes <= TARGET_BYTES,
            "bytecode_precompiled": report.precompiled,
        }
    return sizes


def _timed(fn: Any, n: int) -> dict[str, float]:
    fn()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return percentiles(samples)


def warm(artifact: Path, model_dir: Path, requests: int, bf16: bool, tmp: Path) -> dict[str, Any]:
    from optimize import corpus

    os.environ.update(ENV)
    os.environ.update(
        PRECAST_ARTIFACT_DIR=str(artifact),
        PRECAST_CACHE_URL=f"sqlite:{tmp / 'warm.sqlite'}",
        PRECAST_WRITE_BACK="false",  # every request stays a miss: live inference measured
    )
    import functions.lambda_handler as h

    h.logger.registered_handler.stream = open(os.devnull, "w")  # for the run

    class Ctx:
        function_name, memory_limit_in_mb, aws_request_id = "bench", 2048, "bench"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"

    base = json.loads(EVENT.read_text())
    out: dict[str, Any] = {}
    st_models: dict[str, Any] = {}
    from sentence_transformers import SentenceTransformer

    st_models["st_fp32"] = SentenceTransformer(str(model_dir), device="cpu")
    if bf16:
        import torch

        st_models["st_bf16"] = SentenceTransformer(str(model_dir), device="cpu").to(torch.bfloat16)
    for n in (1, 32):
        texts = corpus.sample(n, offset=3000 + n)
        event = {**base, "body": json.dumps({"inputs": texts})}
        event["headers"] = {**base["headers"], "content-length": str(len(event["body"]))}

        def call(event: dict[str, Any] = event) -> None:
            assert h.handler(event, Ctx())["statusCode"] == 200

        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):  # EMF lines
            out[f"precast_{n}_inputs_miss"] = _timed(call, requests if n == 1 else requests // 4)
            if n == 1:
                h.registry.write_back = True
                call()
                out["precast_1_input_cache_hit"] = _timed(call, requests)
                h.registry.write_back = False
        for name, model in st_models.items():  # fewer reps: they are slower (same inputs)
            reps = {
                1: requests // (2 if name == "st_fp32" else 4),
                32: 5 if name == "st_fp32" else 2,
            }
            out[f"{name}_{n}_inputs"] = _timed(
                lambda m=model, t=texts: m.encode(t, normalize_embeddings=True), reps[n]
            )
    return out


async def _load(url: str, texts: list[str], clients: int) -> dict[str, float]:
    import httpx

    queue: asyncio.Queue[str] = asyncio.Queue()
    for t in texts:
        queue.put_nowait(t)
    latencies: list[float] = []

    async def client(c: httpx.AsyncClient) -> None:
        while not queue.empty():
            text = queue.get_nowait()
            t0 = time.perf_counter()
            r = await c.post("/v1/models/minilm/predict", json={"input": text})
            r.raise_for_status()
            latencies.append(time.perf_counter() - t0)

    async with httpx.AsyncClient(base_url=url, timeout=120) as c:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(c) for _ in range(clients)))
        seconds = time.perf_counter() - t0
    return {"requests_per_s": len(texts) / seconds, "seconds": seconds, **percentiles(latencies)}


def server_throughput(requests: int, clients: int) -> dict[str, Any]:
    import httpx

    from optimize import corpus

    out: dict[str, Any] = {}
    for flag in ("--micro-batch", "--no-micro-batch"):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, "-m", "precast.cli", "serve", "minilm", "--port", str(port),
             "--cache", "none", "--log-level", "warning", flag],
            cwd=REPO, env={**os.environ, **ENV}, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            while True:
                try:
                    httpx.get(f"{url}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    if proc.poll() is not None:
                        raise RuntimeError("precast serve did not start") from None
                    time.sleep(0.2)
            texts = corpus.sample(requests, offset=5000)  # the same texts for both modes
            out[flag.strip("-").replace("-", "_")] = asyncio.run(_load(url, texts, clients))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    out["micro_batch_speedup"] = (
        out["micro_batch"]["requests_per_s"] / out["no_micro_batch"]["requests_per_s"]
    )
    return out


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--st-handler":
        st_handler_main(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cold-runs", type=int, default=5)
    ap.add_argument("--warm-requests", type=int, default=40)
    ap.add_argument("--server-requests", type=int, default=256)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--skip-asset", action="store_true", help="no asset build (no PyPI)")
    ap.add_argument("--skip-bf16", action="store_true")
    args, _ = ap.parse_known_args()  # run_all passes its flags to every benchmark

    machine = header("functions: Lambda handler, asset, local server")
    from edge.artifact_layout import latest_artifact
    from precast.project.config import load_config
    from precast.project.lambda_asset import build_lambda_asset

    cfg = load_config(REPO / "precast.toml")
    artifact = latest_artifact(cfg.artifacts_dir, "minilm")
    model_dir = cfg.model("minilm").source_dir()
    result: dict[str, Any] = {"machine": machine, "artifact": artifact.name}
    with tempfile.TemporaryDirectory(prefix="precast-bench-") as tmp:
        work = Path(tmp)
        local = None
        if not args.skip_asset:
            result["lambda_asset"] = asset_sizes(artifact, work)
            print(json.dumps({"lambda_asset": result["lambda_asset"]}, indent=2), flush=True)
            local = build_lambda_asset(
                "minilm", artifact, work, arch="local", python="local", make_zip=False
            ).directory
        result["cold_start"] = cold_starts(local, model_dir, artifact, args.cold_runs)
        print(json.dumps({"cold_start": result["cold_start"]}, indent=2), flush=True)
        result["server_32_clients"] = server_throughput(args.server_requests, args.clients)
        print(json.dumps({"server": result["server_32_clients"]}, indent=2), flush=True)
        result["warm_handler"] = warm(
            artifact, model_dir, args.warm_requests, not args.skip_bf16, work
        )
        print(json.dumps({"warm": result["warm_handler"]}, indent=2), flush=True)
    w = result["warm_handler"]
    result["ratios"] = {
        "cold_start_st_over_precast": result["cold_start"]["speedup_vs_st"],
        "warm_1_input_st_fp32_over_precast": w["st_fp32_1_inputs"]["p50_ms"]
        / w["precast_1_inputs_miss"]["p50_ms"],
        "warm_32_inputs_st_fp32_over_precast": w["st_fp32_32_inputs"]["p50_ms"]
        / w["precast_32_inputs_miss"]["p50_ms"],
        "cache_hit_over_miss_1_input": w["precast_1_input_cache_hit"]["p50_ms"]
        / w["precast_1_inputs_miss"]["p50_ms"],
        "server_micro_batch_over_none": result["server_32_clients"]["micro_batch_speedup"],
    }
    print(json.dumps({"ratios": result["ratios"]}, indent=2), flush=True)
    write("functions", result)


if __name__ == "__main__":
    main()

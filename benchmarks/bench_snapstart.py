"""SnapStart: the Lambda handler's cold start with and without the init phase.

A fresh process per run (median of N) does what a Lambda environment does:

* ``imports_s``: the runtime's imports alone (starlette, mangum, powertools, edge,
  functions), before the handler module;
* ``init_s``: importing ``functions.lambda_handler`` after them: settings, the artifact
  verified (sha256) and loaded, the ONNX Runtime session, the smoke check, the app;
* ``first_invoke_s``: the first recorded Function URL predict event (a cache miss);
* then the SnapStart hooks in-process (``functions.snapstart``): ``before_snapshot_s``,
  ``after_restore_s`` (reconnect the SQLite cache, reseed, smoke check again) and
  ``first_invoke_after_restore_s`` (another miss).

A restored environment skips ``imports_s + init_s``: it pays Lambda's own restore (memory
pages loaded from the snapshot, not measurable here) plus ``after_restore_s`` and its first
invoke. ``cold_wall_s`` is the whole process from the outside (interpreter start included).

    flock /tmp/precast-bench.lock .venv/bin/python -m benchmarks.bench_snapstart [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import header, write

REPO = Path(__file__).resolve().parents[1]
EVENT = REPO / "tests" / "events" / "function_url_predict.json"

RUN = """
import json, sys, time
t0 = time.perf_counter()
import aws_lambda_powertools, mangum, starlette, edge, functions.app, functions.lambda_host
t1 = time.perf_counter()
import functions.lambda_handler as h
t2 = time.perf_counter()
class Ctx:
    function_name = "bench"; memory_limit_in_mb = 2048; aws_request_id = "bench"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
event = json.load(open(sys.argv[1]))
assert h.handler(event, Ctx())["statusCode"] == 200
t3 = time.perf_counter()
from functions import snapstart
state = snapstart.SnapshotState()
snapstart.before_snapshot(h.registry, h.logger, state)
t4 = time.perf_counter()
snapstart.after_restore(h.registry, h.logger, state)
t5 = time.perf_counter()
assert h.handler(event, Ctx())["statusCode"] == 200
t6 = time.perf_counter()
print(json.dumps({"imports_s": t1 - t0, "init_s": t2 - t1, "first_invoke_s": t3 - t2,
  "before_snapshot_s": t4 - t3, "after_restore_s": t5 - t4,
  "first_invoke_after_restore_s": t6 - t5}), file=sys.stderr)
"""


def run_once(artifact: Path, workdir: Path) -> dict[str, float]:
    env = {
        **os.environ,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PRECAST_ARTIFACT_DIR": str(artifact),
        "PRECAST_CACHE_URL": f"sqlite:{workdir / 'cache.sqlite'}",
        "PRECAST_WRITE_BACK": "false",  # both invocations are misses: live inference
    }
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(EVENT)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    wall = time.perf_counter() - t0
    phases: dict[str, float] = json.loads(done.stderr.strip().splitlines()[-1])
    return {"cold_wall_s": wall, **phases}


def summarize(runs: list[dict[str, float]]) -> dict[str, Any]:
    medians = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    skipped = medians["imports_s"] + medians["init_s"]
    cold = medians["imports_s"] + medians["init_s"] + medians["first_invoke_s"]
    restored = medians["after_restore_s"] + medians["first_invoke_after_restore_s"]
    return {
        "median": medians,
        "min_cold_wall_s": min(r["cold_wall_s"] for r in runs),
        "n": len(runs),
        "cold_start_s": cold,  # imports + init + first invoke, in-process
        "restore_skips_s": skipped,
        "restored_start_s": restored,  # plus Lambda's own restore, not measurable here
        "init_share_of_cold_start": skipped / cold,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args, _ = ap.parse_known_args()  # run_all passes every benchmark the same arguments
    m = header("SnapStart: what a restore skips")
    from edge.artifact_layout import read_latest_pointer

    artifact = read_latest_pointer(REPO / "artifacts" / "minilm")
    if artifact is None:
        raise SystemExit("no artifact: run `.venv/bin/precast optimize minilm` first")
    runs = []
    for i in range(max(1, args.runs)):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(run_once(artifact, Path(tmp)))
        print(f"# run {i + 1}: {json.dumps({k: round(v, 4) for k, v in runs[-1].items()})}")
    result = summarize(runs)
    print(json.dumps(result, indent=2))
    write("snapstart", {"machine": m, "artifact": artifact.name, "runs": runs, **result})


if __name__ == "__main__":
    main()

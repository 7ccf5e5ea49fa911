"""Load: `precast serve` under 16 clients, half cache hits, for a fixed time (loopback only).

Each client posts one text per request, in a closed loop (next request when the last one
is answered; aiohttp on uvloop, one keep-alive connection per client: httpx cost more CPU
per request than the server's cache hit): a cached text (warmed into the SQLite cache
first) or a never-seen stdlib docstring (a miss: live inference), 50/50 by a seeded draw.
Reported: requests/s, p50/p99 client-side latency for hits and misses separately, status
counts (any non-200 is an error), and the server's RSS at the start and end of the
measured window.

``--compare-ref REF`` runs the same load first against the server code of git ref REF
(exported with `git archive` to a temp dir, served by this venv), so "before" and
"after" come from one run on one machine.

    flock /tmp/precast-bench.lock .venv/bin/python -m benchmarks.bench_load \\
        [--seconds 30] [--clients 16] [--hit-ratio 0.5] [--compare-ref REF]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import header, percentiles, write

REPO = Path(__file__).resolve().parents[1]
ENV = {"POWERTOOLS_TRACE_DISABLED": "true"}
HIT_TEXTS = 256
PATH = "/v1/models/minilm/predict"
JSON_HEADERS = {"content-type": "application/json"}


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(cwd: Path, cache: Path) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "precast.cli", "serve", "minilm", "--port", str(port),
         "--cache", f"sqlite:{cache}", "--log-level", "warning", "--no-micro-batch"],
        cwd=cwd, env={**os.environ, **ENV}, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            httpx.get(f"{url}/healthz", timeout=1)
            return proc, url
        except httpx.TransportError:
            if proc.poll() is not None:
                raise RuntimeError(f"precast serve did not start in {cwd}") from None
            time.sleep(0.2)  # bounded by the server starting or dying


async def _load(
    url: str, hits: list[str], misses: list[str], clients: int, seconds: float, hit_ratio: float
) -> dict[str, Any]:
    import aiohttp

    latencies: dict[str, list[float]] = {"hit": [], "miss": []}
    statuses: dict[str, int] = {}
    wrong_kind = 0
    fresh = iter(misses)
    deadline = time.perf_counter() + seconds

    async def client(seed: int) -> None:
        nonlocal wrong_kind
        draw = random.Random(seed)
        connector = aiohttp.TCPConnector(limit=1)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as http:
            while time.perf_counter() < deadline:
                kind = "hit" if draw.random() < hit_ratio else "miss"
                text = draw.choice(hits) if kind == "hit" else next(fresh)
                body = json.dumps({"inputs": [text]})
                t0 = time.perf_counter()
                async with http.post(PATH, data=body, headers=JSON_HEADERS) as r:
                    payload = await r.read()
                elapsed = time.perf_counter() - t0
                statuses[str(r.status)] = statuses.get(str(r.status), 0) + 1
                if r.status == 200:
                    if json.loads(payload)["cached"] != [kind == "hit"]:
                        wrong_kind += 1
                    latencies[kind].append(elapsed)

    t0 = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    wall = time.perf_counter() - t0
    done = sum(statuses.values())
    return {
        "requests": done,
        "requests_per_s": done / wall,
        "seconds": wall,
        "hits": _percentiles(latencies["hit"]),
        "misses": _percentiles(latencies["miss"]),
        "statuses": statuses,
        "errors": done - statuses.get("200", 0),
        "cache_flag_mismatches": wrong_kind,
    }


def _client_loop_factory() -> Any:
    try:
        import uvloop
    except ImportError:  # a platform without it: asyncio's own loop
        return None
    return uvloop.new_event_loop


def _percentiles(samples_s: list[float]) -> dict[str, Any]:
    return percentiles(samples_s) if samples_s else {"p50_ms": None, "p99_ms": None, "n": 0}


def measure(cwd: Path, args: argparse.Namespace, tmp: Path, label: str) -> dict[str, Any]:
    import httpx

    from optimize import corpus

    texts = corpus.stdlib_docstrings()
    hits = list(texts[:HIT_TEXTS])
    misses = list(texts[HIT_TEXTS:])
    random.Random(label).shuffle(misses)
    cache = tmp / f"{label}.sqlite"
    proc, url = _start_server(cwd, cache)
    try:
        for i in range(0, len(hits), 32):  # warm the cache with the hit set
            r = httpx.post(f"{url}{PATH}", json={"inputs": hits[i : i + 32]}, timeout=120)
            r.raise_for_status()
        rss_start = _rss_mb(proc.pid)
        # the clients share these 2 cores with the server: run them on uvloop (installed
        # with the server's own extra) so their own CPU per request stays small
        with asyncio.Runner(loop_factory=_client_loop_factory()) as runner:
            result = runner.run(
                _load(url, hits, misses, args.clients, args.seconds, args.hit_ratio)
            )
        rss_end = _rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    result["rss_mb"] = {
        "start": round(rss_start, 1),
        "end": round(rss_end, 1),
        "growth": round(rss_end - rss_start, 1),
    }
    h, m = result["hits"], result["misses"]
    print(
        f"{label:>7}: {result['requests_per_s']:.1f} req/s; hit p50/p99 {_ms(h)} (n={h['n']});"
        f" miss p50/p99 {_ms(m)} (n={m['n']}); errors {result['errors']}; "
        f"RSS {rss_start:.0f} -> {rss_end:.0f} MB",
        flush=True,
    )
    return result


def _ms(q: dict[str, Any]) -> str:
    return "-" if not q["n"] else f"{q['p50_ms']:.1f}/{q['p99_ms']:.1f} ms"


def _export(ref: str, dest: Path) -> Path:
    """The tree of git ref ``ref`` in ``dest``, sharing this checkout's built artifacts."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref], capture_output=True, check=True
    ).stdout
    dest.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    shutil.rmtree(dest / "artifacts", ignore_errors=True)
    (dest / "artifacts").symlink_to(REPO / "artifacts")
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--hit-ratio", type=float, default=0.5)
    ap.add_argument("--compare-ref", default=None, help="also load the server code of this ref")
    args, _ = ap.parse_known_args()  # run_all passes its flags to every benchmark
    m = header(f"load: {args.clients} clients, {args.hit_ratio:.0%} hits, {args.seconds:g} s")
    payload: dict[str, Any] = {
        "machine": m,
        "config": {
            "clients": args.clients,
            "hit_ratio": args.hit_ratio,
            "seconds": args.seconds,
            "texts_per_request": 1,
            "cache": "sqlite",
            "micro_batch": False,
        },
    }
    with tempfile.TemporaryDirectory(prefix="precast-load-") as tmp:
        if args.compare_ref:
            before = _export(args.compare_ref, Path(tmp) / "before")
            payload["before"] = {
                "ref": args.compare_ref,
                **measure(before, args, Path(tmp), "before"),
            }
        payload["after"] = measure(REPO, args, Path(tmp), "after")
    write("load", payload)


if __name__ == "__main__":
    main()

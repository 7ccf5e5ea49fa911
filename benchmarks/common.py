"""Shared benchmark plumbing: machine header, timing, result files."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    from optimize.isa import cpu_info

    info = cpu_info()
    info["cores"] = len(os.sched_getaffinity(0))
    info["python"] = platform.python_version()
    return info


def header(title: str) -> dict[str, Any]:
    m = machine()
    print(f"# {title}")
    print(f"# CPU: {m['cpu']} ({m['machine']}, {m['cores']} cores)")
    print(
        f"# ISA: {' '.join(m['isa']) or '-'}; int8 dot product: {m['int8_dot_product']}; "
        f"native bf16: {m['native_bf16']}"
    )
    print("# Ratios are comparable within this run only.")
    return m


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """Fastest wall time of ``repeats`` runs (after one warm-up)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples_s)
    return {
        "p50_ms": statistics.median(ms),
        "p99_ms": ms[min(len(ms) - 1, int(round(0.99 * (len(ms) - 1))))],
        "n": len(ms),
    }


def write(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "at": datetime.now(UTC).isoformat(timespec="seconds"), **payload}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"# wrote {path}")
    return path

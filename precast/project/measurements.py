"""The measured inputs of the cost model, read from ``benchmarks/results/*.json``.

Each number keeps where it came from (file, the benchmark's date, the machine it ran on),
so ``precast cost`` prints it beside the result. A missing file or key is a
:class:`~precast.project.exceptions.CostInputError` naming the benchmark that writes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from precast.project.exceptions import CostInputError

# file stem -> the command that (re)writes it
BENCHMARKS = {
    "functions": "python -m benchmarks.bench_functions",
    "snapstart": "python -m benchmarks.bench_snapstart",
    "batch": "python -m benchmarks.bench_batch",
    "gpu": "python -m benchmarks.bench_gpu (on a machine with a GPU)",
}


@dataclass(frozen=True)
class Measured:
    value: float
    what: str
    source: str  # results file name
    at: str  # the benchmark's timestamp
    machine: str

    def cite(self) -> str:
        return f"{self.source} {self.at[:10]}"


@dataclass(frozen=True)
class Measurements:
    lambda_miss_texts_per_s: Measured  # live inference through the handler
    lambda_request_s: Measured  # a fully cached request: what every request pays at least
    cold_start_s: Measured  # imports + init + first invoke, no snapshot
    restore_s: Measured  # SnapStart after-restore hooks + first invoke
    batch_texts_per_s: Measured  # the batch pipeline, model load included
    gpu_texts_per_s: Measured | None  # None until bench_gpu ran on a GPU
    gpu_name: str = ""  # the GPU bench_gpu ran on (nvidia-smi's name)


def _read(results: Path, stem: str) -> dict[str, Any]:
    path = results / f"{stem}.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CostInputError(f"{path} is missing: run `{BENCHMARKS[stem]}`") from None
    except json.JSONDecodeError as exc:
        raise CostInputError(
            f"{path} is not valid JSON ({exc}): rerun `{BENCHMARKS[stem]}`"
        ) from None
    return data


def _value(data: dict[str, Any], stem: str, *keys: str) -> float:
    node: Any = data
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            raise CostInputError(
                f"{stem}.json has no {'.'.join(keys)}: rerun `{BENCHMARKS[stem]}`"
            ) from None
        node = node[key]
    if isinstance(node, bool) or not isinstance(node, int | float) or node <= 0:
        raise CostInputError(f"{stem}.json {'.'.join(keys)} = {node!r} is not a positive number")
    return float(node)


def _machine(data: dict[str, Any]) -> str:
    m = data.get("machine") or data.get("measured_on") or {}
    cores = f", {m['cores']} cores" if "cores" in m else ""
    return f"{m.get('cpu', '?')}{cores}"


def _measured(data: dict[str, Any], stem: str, value: float, what: str) -> Measured:
    return Measured(value, what, f"{stem}.json", str(data.get("at", "?")), _machine(data))


def load_measurements(results: Path) -> Measurements:
    functions = _read(results, "functions")
    snap = _read(results, "snapstart")
    batch = _read(results, "batch")
    miss_ms = _value(functions, "functions", "warm_handler", "precast_32_inputs_miss", "p50_ms")
    hit_ms = _value(functions, "functions", "warm_handler", "precast_1_input_cache_hit", "p50_ms")
    gpu = None
    if (results / "gpu.json").is_file():
        data = _read(results, "gpu")
        tps = _value(data, "gpu", "results", "texts_per_s")
        gpu = _measured(data, "gpu", tps, f"texts/s on {data.get('gpu', 'the GPU')}")
    return Measurements(
        lambda_miss_texts_per_s=_measured(
            functions, "functions", 32 / (miss_ms / 1000), "texts/s, 32-text miss request p50"
        ),
        lambda_request_s=_measured(
            functions, "functions", hit_ms / 1000, "s, 1-text cache-hit request p50"
        ),
        cold_start_s=_measured(
            snap, "snapstart", _value(snap, "snapstart", "cold_start_s"), "s, init + 1st call"
        ),
        restore_s=_measured(
            snap,
            "snapstart",
            _value(snap, "snapstart", "restored_start_s"),
            "s, restore hooks + 1st call",
        ),
        batch_texts_per_s=_measured(
            batch,
            "batch",
            _value(batch, "batch", "results", "pipeline_incl_model_load_texts_per_s"),
            "texts/s, batch pipeline incl. model load",
        ),
        gpu_texts_per_s=gpu,
        gpu_name=str(data.get("gpu") or "") if gpu is not None else "",
    )

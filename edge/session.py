"""ONNX Runtime session options, chosen on purpose and overridable.

Defaults: on CPU, one intra-op thread per run and one run in flight per core visible to the
process (texts run one per session run, see :mod:`edge.execution`); on a GPU host, every
core for the one run in flight. One inter-op thread (a sequential encoder gains nothing
from more), full
graph optimizations (the artifact is already optimized offline, so this is cheap), the CPU
memory arena on (repeated similar shapes reuse buffers), and CUDA first with CPU fallback
when ``providers="auto"`` and the CUDA provider is present.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edge.environment import PRECAST_ORT_PROVIDERS, PRECAST_ORT_THREADS
from edge.execution import BUCKETED, PER_TEXT, ExecutionPlan

if TYPE_CHECKING:  # onnxruntime is imported lazily: `import edge` stays cheap
    import onnxruntime as ort

ENV_THREADS = PRECAST_ORT_THREADS.name
ENV_PROVIDERS = PRECAST_ORT_PROVIDERS.name


def visible_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class SessionConfig:
    # 0: $PRECAST_ORT_THREADS if set, else 1 per run on CPU (runs go in parallel) and all
    # visible cores on a GPU host
    intra_op_threads: int = 0
    # CPU only: per-text runs in flight at once; 0 = visible cores // intra-op threads
    text_workers: int = 0
    # "auto": per-text on CPU, bucketed on a GPU; "per-text" / "bucketed" force one
    execution: str = "auto"
    inter_op_threads: int = 1
    graph_optimization: str = "all"  # disable | basic | extended | all
    enable_cpu_mem_arena: bool = True
    providers: tuple[str, ...] | str = "auto"  # "auto" | ("CUDAExecutionProvider", ...)
    # a manifest variant's name to run (edge.variants); None: $PRECAST_VARIANT, else per host
    variant: str | None = None

    def resolved_threads(self, *, per_text: bool = False) -> int:
        if self.intra_op_threads > 0:
            return self.intra_op_threads
        if (threads := PRECAST_ORT_THREADS.read()) > 0:
            return threads
        return 1 if per_text else visible_cpus()

    def resolved_workers(self, threads: int) -> int:
        if self.text_workers > 0:
            return self.text_workers
        return max(1, visible_cpus() // max(1, threads))


def choose_providers(requested: tuple[str, ...] | str, available: list[str]) -> list[str]:
    """Requested providers that exist here, always ending with the CPU provider."""
    if requested == "auto":
        requested = PRECAST_ORT_PROVIDERS.read()
    chosen = [p for p in requested if p in available and p != "CPUExecutionProvider"]
    return [*chosen, "CPUExecutionProvider"]


def resolved_providers(requested: tuple[str, ...] | str = "auto") -> list[str]:
    """The providers a session created now would be given, on this host."""
    import onnxruntime as ort

    return choose_providers(requested, ort.get_available_providers())


def create_session(
    model_path: Path, config: SessionConfig | None = None
) -> tuple[ort.InferenceSession, ExecutionPlan]:
    """The session and how to feed it (per-text on CPU, bucketed batches on a GPU)."""
    import onnxruntime as ort

    cfg = config or SessionConfig()
    if cfg.execution not in ("auto", PER_TEXT, BUCKETED):
        raise ValueError(f"execution must be auto|{PER_TEXT}|{BUCKETED}, got {cfg.execution!r}")
    providers = choose_providers(cfg.providers, ort.get_available_providers())
    per_text = cfg.execution == PER_TEXT or (
        cfg.execution == "auto" and providers[0] == "CPUExecutionProvider"
    )
    threads = cfg.resolved_threads(per_text=per_text)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = cfg.inter_op_threads
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.enable_cpu_mem_arena = cfg.enable_cpu_mem_arena
    opts.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[cfg.graph_optimization]
    opts.log_severity_level = 3
    session = ort.InferenceSession(str(model_path), sess_options=opts, providers=providers)
    on_cpu = session.get_providers()[0] == "CPUExecutionProvider"
    if cfg.execution == BUCKETED or (cfg.execution == "auto" and not on_cpu):
        return session, ExecutionPlan(BUCKETED, workers=1, threads=threads)
    # per-text, also when a requested GPU provider failed to load and ORT fell back to CPU
    if not per_text:
        threads = cfg.resolved_threads(per_text=True)
        opts.intra_op_num_threads = threads
        session = ort.InferenceSession(str(model_path), sess_options=opts, providers=providers)
    return session, ExecutionPlan(PER_TEXT, cfg.resolved_workers(threads), threads)

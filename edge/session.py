"""ONNX Runtime session options, chosen on purpose and overridable.

Defaults: intra-op threads = physical cores visible to the process (Lambda, containers and
devices give few), one inter-op thread (a sequential encoder gains nothing from more), full
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

if TYPE_CHECKING:  # onnxruntime is imported lazily: `import edge` stays cheap
    import onnxruntime as ort

ENV_THREADS = PRECAST_ORT_THREADS.name
ENV_PROVIDERS = PRECAST_ORT_PROVIDERS.name


@dataclass(frozen=True)
class SessionConfig:
    intra_op_threads: int = 0  # 0: decide from the CPUs this process may use
    inter_op_threads: int = 1
    graph_optimization: str = "all"  # disable | basic | extended | all
    enable_cpu_mem_arena: bool = True
    providers: tuple[str, ...] | str = "auto"  # "auto" | ("CUDAExecutionProvider", ...)

    def resolved_threads(self) -> int:
        if self.intra_op_threads > 0:
            return self.intra_op_threads
        if (threads := PRECAST_ORT_THREADS.read()) > 0:
            return threads
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # pragma: no cover - not Linux
            return max(1, os.cpu_count() or 1)


def choose_providers(requested: tuple[str, ...] | str, available: list[str]) -> list[str]:
    """Requested providers that exist here, always ending with the CPU provider."""
    if requested == "auto":
        requested = PRECAST_ORT_PROVIDERS.read()
    chosen = [p for p in requested if p in available and p != "CPUExecutionProvider"]
    return [*chosen, "CPUExecutionProvider"]


def create_session(model_path: Path, config: SessionConfig | None = None) -> ort.InferenceSession:
    import onnxruntime as ort

    cfg = config or SessionConfig()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = cfg.resolved_threads()
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
    providers = choose_providers(cfg.providers, ort.get_available_providers())
    return ort.InferenceSession(str(model_path), sess_options=opts, providers=providers)

"""How encoded texts reach the engine: one text per run (or same-length groups) on CPU,
bucketed batches on GPU.

Why one text per run. The dynamic int8 recipes compute one activation scale per input
tensor, so inside a batch a text's vector depends on its neighbours and on its padding
(worst cosine 0.975 between a batch job's rows and the same texts run alone, measured over
5,000 real texts). Run alone, a text's vector is a function of the text and the artifact
only: bit-identical whatever else was in the call, whether it came through ``predict``,
the hybrid cache path, the micro-batcher or the batch job, and for any intra-op thread
count (ONNX Runtime splits the GEMMs over rows and columns, not over the reduction; the
tests check it). So a cache hit returns exactly what a live call would have computed.

It is also not slower on CPU: no padding, and the texts of one call run in parallel, one
per core, on single-threaded runs (measured on 2 cores: 1.4x the bucketed batches). The
``per_text`` plan is used whenever the session's first provider is the CPU. On a GPU, many
small runs would leave it idle, so CUDA sessions keep the length-bucketed batches of
:mod:`edge.batching`: those answers depend on batch composition (within the bound above),
which the manifest's execution field records for the cache contract.

Same-length groups (``same-length``, the OpenVINO engine's plan). Texts with the same token
count run together, up to :data:`MAX_GROUP` per run: no padding, so the only thing a
neighbour could change is the kernels' blocking over the batch rows. OpenVINO's CPU plugin
computes each row the same way whatever the batch size (static int8 scales, bf16/f32 GEMMs
that split rows, not the reduction); ``tests/test_batch_invariance.py`` checks it bit for
bit against one-text runs on real texts, so the plan is batch-invariant. It is not used on
ONNX Runtime: the dynamic int8 recipes compute one activation scale per input tensor, so a
group shares a scale. Measured on 2 cores (``benchmarks/bench_schedule.py``): OpenVINO
bf16 1.1x and int8 1.2x its one-text-per-request plan; ORT int8 per-text 2 runs x 1 thread
1.1x bucketed and 1.4x one run x 2 threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, TypeVar

Mode = Literal["per-text", "same-length", "bucketed"]
PER_TEXT: Literal["per-text"] = "per-text"
SAME_LENGTH: Literal["same-length"] = "same-length"
BUCKETED: Literal["bucketed"] = "bucketed"
MAX_GROUP = 32  # texts of one length per same-length run
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class ExecutionPlan:
    mode: Mode
    workers: int  # per-text runs in flight at once (1: sequential)
    threads: int  # intra-op threads of each run

    @property
    def batch_invariant(self) -> bool:
        return self.mode != BUCKETED

    def describe(self) -> str:
        if self.mode == BUCKETED:
            return "length-bucketed batches (answers depend on batch neighbours)"
        unit = "one text" if self.mode == PER_TEXT else f"texts of one length (<= {MAX_GROUP})"
        return f"{unit} per run, {self.workers} in parallel x {self.threads} thread(s)"

    def groups(self, lengths: Sequence[int]) -> list[list[int]]:
        """Indices run together under a batch-invariant plan: one each (per-text), or
        texts of equal length, at most MAX_GROUP a run, in first-seen order."""
        if self.mode == PER_TEXT:
            return [[i] for i in range(len(lengths))]
        if self.mode == BUCKETED:
            raise ValueError("bucketed plans are made by edge.batching.plan_batches")
        by_length: dict[int, list[int]] = {}
        for i, n in enumerate(lengths):
            by_length.setdefault(n, []).append(i)
        return [
            same[start : start + MAX_GROUP]
            for same in by_length.values()
            for start in range(0, len(same), MAX_GROUP)
        ]


class ParallelRunner:
    """Maps a function over items on a lazily created pool of ``workers`` threads.

    ONNX Runtime releases the GIL during ``run`` and its sessions are thread-safe, so the
    threads share one session. A single item, or ``workers == 1``, runs in the caller's
    thread (no pool is ever made on a single core or for single-text calls)."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if self.workers == 1 or len(items) <= 1:
            return [fn(item) for item in items]
        return list(self._executor().map(fn, items))

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="precast-ort")
            return self._pool

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False)
                self._pool = None

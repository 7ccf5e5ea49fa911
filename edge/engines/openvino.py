"""OpenVINO runtime as an engine: the variant's ONNX file compiled for the CPU plugin.

Reads the same ONNX as ONNX Runtime (no conversion step, no second file for fp32/bf16):
``precision`` is the CPU plugin's inference precision (``bf16`` where the CPU has native
bf16, else ``f32``; an int8 QDQ file runs its int8 kernels). Texts of equal token count run
together (the ``same-length`` plan of :mod:`edge.execution`: no padding, bit-identical to
one-text runs on this plugin), one infer request per worker thread and one CPU stream per
worker, 1 thread each: measured fastest on 2 cores (``benchmarks/bench_schedule.py``)
against one request on every core (LATENCY hint) and an ``AsyncInferQueue`` of 2 requests
(THROUGHPUT hint). ``SessionConfig(execution="per-text")`` runs one text per request.
Imported only when an OpenVINO variant is chosen: ``import edge`` never loads it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge.execution import BUCKETED, PER_TEXT, SAME_LENGTH, ExecutionPlan
from edge.session import SessionConfig

if TYPE_CHECKING:
    from edge.engines.protocol import EngineSession

DEVICE = "CPU"
# variant precision -> the CPU plugin's INFERENCE_PRECISION_HINT
# (an fp16 file is computed in f32; an int8 QDQ file runs int8 kernels whatever the hint)
PRECISION_HINTS = {"fp32": "f32", "fp16": "f32", "int8": "f32", "bf16": "bf16"}


@dataclass(frozen=True)
class _Input:
    name: str


class OpenVINOSession:
    """A compiled model behind ORT's session API; one infer request per calling thread."""

    def __init__(self, compiled: Any, device: str) -> None:
        self._compiled = compiled
        self._device = device
        self._local = threading.local()
        self._inputs = [_Input(port.get_any_name()) for port in compiled.inputs]

    def run(self, output_names: Sequence[str] | None, feeds: dict[str, Any]) -> list[Any]:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        result = request.infer(feeds)
        ports = (
            list(self._compiled.outputs)
            if output_names is None
            else [self._compiled.output(n) for n in output_names]
        )
        # the request reuses its output buffers on the next call: copy out
        return [np.array(result[p], copy=True) for p in ports]

    def get_inputs(self) -> Sequence[_Input]:
        return self._inputs

    def get_providers(self) -> list[str]:
        return [f"OpenVINO/{self._device}"]


def open_openvino(
    model_path: Path, config: SessionConfig | None, *, precision: str
) -> tuple[EngineSession, ExecutionPlan]:
    import openvino as ov

    cfg = config or SessionConfig()
    if precision not in PRECISION_HINTS:
        raise ValueError(
            f"OpenVINO variant precision {precision!r}: choices are {'|'.join(PRECISION_HINTS)}"
        )
    if cfg.execution == BUCKETED:
        raise ValueError(
            "the OpenVINO engine runs batch-invariant plans only: execution auto|per-text"
        )
    threads = cfg.resolved_threads(per_text=True)
    workers = cfg.resolved_workers(threads)
    core = ov.Core()
    compiled = core.compile_model(
        str(model_path),
        DEVICE,
        {
            "INFERENCE_PRECISION_HINT": PRECISION_HINTS[precision],
            "INFERENCE_NUM_THREADS": threads * workers,
            "NUM_STREAMS": workers,
        },
    )
    mode = PER_TEXT if cfg.execution == PER_TEXT else SAME_LENGTH
    return OpenVINOSession(compiled, DEVICE), ExecutionPlan(mode, workers, threads)

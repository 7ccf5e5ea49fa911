"""Engines that run a variant's model file: ONNX Runtime (always) and OpenVINO (optional).

An engine session looks like an ``onnxruntime.InferenceSession`` to :class:`edge.EdgeModel`
(``run``, ``get_inputs``, ``get_providers``), so tokenization, pooling and the execution plan
stay one code path. Engines other than ONNX Runtime are imported only when a variant that
needs them is chosen; :func:`installed_engines` checks for them without importing them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.engines.protocol import EngineSession
    from edge.execution import ExecutionPlan
    from edge.session import SessionConfig

ONNXRUNTIME = "onnxruntime"
OPENVINO = "openvino"
ENGINES = (ONNXRUNTIME, OPENVINO)
# the module whose presence means the engine is installed, and how to install it
_MODULES = {ONNXRUNTIME: "onnxruntime", OPENVINO: "openvino"}
INSTALL_HINT = {OPENVINO: "pip install 'precast[openvino]'"}


def installed_engines() -> frozenset[str]:
    """Engines importable here (found on the path, not imported)."""
    return frozenset(e for e, mod in _MODULES.items() if importlib.util.find_spec(mod) is not None)


def open_engine(
    engine: str,
    model_path: Path,
    config: SessionConfig | None,
    *,
    provider: str,
    precision: str,
) -> tuple[EngineSession, ExecutionPlan]:
    """A session of ``engine`` on ``model_path`` and how to feed it."""
    if engine == ONNXRUNTIME:
        from edge.engines.ort import open_ort

        return open_ort(model_path, config, provider=provider)
    if engine == OPENVINO:
        from edge.engines.openvino import open_openvino

        return open_openvino(model_path, config, precision=precision)
    raise ValueError(f"unknown engine {engine!r}. Choices are: {'|'.join(ENGINES)}")

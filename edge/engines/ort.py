"""ONNX Runtime as an engine: the session of :mod:`edge.session` on one provider + the CPU."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from edge.exceptions import VariantUnavailableError
from edge.session import SessionConfig, create_session

if TYPE_CHECKING:
    from edge.engines.protocol import EngineSession
    from edge.execution import ExecutionPlan

CPU = "CPUExecutionProvider"


def open_ort(
    model_path: Path, config: SessionConfig | None, *, provider: str
) -> tuple[EngineSession, ExecutionPlan]:
    """A CPU variant runs on the CPU provider only; an accelerator variant on its provider
    first, and fails (so the caller falls back to a CPU variant) if that provider did not
    initialize, because an fp16 graph meant for a GPU is the slow choice on a CPU."""
    cfg = replace(config or SessionConfig(), providers=(provider,) if provider != CPU else (CPU,))
    session, plan = create_session(model_path, cfg)
    if provider != CPU and session.get_providers()[0] != provider:
        raise VariantUnavailableError(
            f"{provider} did not initialize (session providers: {session.get_providers()})"
        )
    return session, plan

"""What every engine's session offers: the part of ORT's ``InferenceSession`` API that
:class:`edge.EdgeModel` uses. The engines (``edge.engines.ort``, ``edge.engines.openvino``)
and their callers import it from here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class NamedInput(Protocol):
    @property
    def name(self) -> str: ...


class EngineSession(Protocol):
    """What :class:`edge.EdgeModel` needs from a session (ORT's own API)."""

    def run(self, output_names: Sequence[str] | None, feeds: dict[str, Any]) -> list[Any]: ...

    def get_inputs(self) -> Sequence[NamedInput]: ...

    def get_providers(self) -> list[str]: ...

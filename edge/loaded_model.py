"""What a check reads of a loaded model: :class:`edge.model.EdgeModel` is one. The start-up
check (:mod:`edge.smoke`) is typed against this, not the class, so it stays below the
module that loads models and runs it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from edge.execution import ExecutionPlan
    from edge.manifest import Manifest
    from edge.variants import VariantChoice


class LoadedModel(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def manifest(self) -> Manifest: ...
    @property
    def variant(self) -> VariantChoice | None: ...
    @property
    def plan(self) -> ExecutionPlan: ...
    def predict(
        self, texts: Sequence[str], *, enforce_limits: bool = ...
    ) -> npt.NDArray[np.float32]: ...

"""Label + score answers of a text-classification model (its probabilities, named)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def top_labels(
    labels: tuple[str, ...], probabilities: npt.NDArray[np.float32], top_k: int | None = None
) -> list[dict[str, str | float]]:
    """``[{"label": ..., "score": ...}, ...]`` best first; ``top_k`` keeps the first k."""
    order = np.argsort(-probabilities, kind="stable")
    if top_k is not None:
        order = order[:top_k]
    return [{"label": labels[i], "score": float(probabilities[i])} for i in order]

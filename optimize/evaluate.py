"""Step 4: measure a candidate against the fp32 reference, through the edge runtime.

Accuracy: per-text cosine between candidate and reference embeddings (mean and worst),
and top-1 nearest-neighbour agreement (does each text's closest other text stay the same).
Speed: texts per second over the evaluation set with the runtime's own bucketed batching.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

from edge.model import EdgeModel

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Scores:
    mean_cosine: float
    min_cosine: float
    neighbour_agreement: float
    texts_per_s: float
    size_bytes: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def cosine_rows(a: F32, b: F32) -> F32:
    na = a / np.clip(np.linalg.norm(a, axis=1, keepdims=True), 1e-12, None)
    nb = b / np.clip(np.linalg.norm(b, axis=1, keepdims=True), 1e-12, None)
    return np.asarray((na * nb).sum(axis=1), dtype=np.float32)


def nearest_neighbours(x: F32) -> npt.NDArray[np.int64]:
    n = x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)
    sims = n @ n.T
    np.fill_diagonal(sims, -np.inf)
    return np.asarray(sims.argmax(axis=1), dtype=np.int64)


def accuracy(candidate: F32, reference: F32) -> tuple[float, float, float]:
    cos = cosine_rows(candidate, reference)
    agree = float((nearest_neighbours(candidate) == nearest_neighbours(reference)).mean())
    return float(cos.mean()), float(cos.min()), agree


def throughput(model: EdgeModel, texts: list[str], *, repeats: int = 2) -> float:
    """Best-of-``repeats`` texts/s (one warm-up call first)."""
    model.predict(texts[:8], enforce_limits=False)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(texts, enforce_limits=False)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def score(
    model: EdgeModel, reference: F32, texts: list[str], size_bytes: int, *, timing_texts: int
) -> tuple[Scores, F32]:
    vectors = model.predict(texts, enforce_limits=False)
    mean_cos, min_cos, agree = accuracy(vectors, reference)
    tps = throughput(model, texts[:timing_texts])
    return Scores(mean_cos, min_cos, agree, tps, size_bytes), vectors

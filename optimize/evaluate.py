"""Step 4: measure a candidate against the fp32 reference, through the edge runtime.

Accuracy: per-text cosine between candidate and reference outputs (mean and worst), and
per task: top-1 nearest-neighbour agreement (feature-extraction: does each text's closest
other text stay the same); top-1 label agreement and the largest probability change
(text-classification); Kendall's tau of each query's passage ranking and top-1 passage
agreement (text-ranking). Speed: inputs per second over the evaluation set with the
runtime's own batching.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

from edge.model import EdgeModel

F32 = npt.NDArray[np.float32]
# texts, or (query, passage) pairs for text-ranking (grouped by query, RANK_GROUP each)
EvalInputs = Sequence[str] | Sequence[tuple[str, str]]
RANK_GROUP = 4


@dataclass(frozen=True)
class Scores:
    mean_cosine: float
    min_cosine: float
    neighbour_agreement: float
    texts_per_s: float
    size_bytes: int
    # the task's own measures (None for feature-extraction; left out of the manifest then)
    top1_agreement: float | None = None
    max_probability_change: float | None = None
    kendall_tau: float | None = None

    def as_dict(self) -> dict[str, float | int]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def run_task(model: EdgeModel, inputs: EvalInputs) -> F32:
    """The model's outputs for ``inputs``: rows per text, or one score column per pair."""
    if model.manifest.task == "text-ranking":
        pairs = [p for p in inputs if isinstance(p, tuple)]
        return model.score_pairs(pairs)[:, None]
    return model.predict([t for t in inputs if isinstance(t, str)], enforce_limits=False)


def label_agreement(candidate: F32, reference: F32) -> tuple[float, float]:
    """(top-1 label agreement, largest absolute probability change)."""
    same = float((candidate.argmax(axis=1) == reference.argmax(axis=1)).mean())
    return same, float(np.abs(candidate - reference).max())


def rank_agreement(candidate: F32, reference: F32) -> tuple[float, float]:
    """(top-1 passage agreement, mean Kendall's tau) over queries of RANK_GROUP passages."""
    from scipy.stats import kendalltau

    cand = candidate.reshape(-1, RANK_GROUP)
    ref = reference.reshape(-1, RANK_GROUP)
    top1 = float((cand.argmax(axis=1) == ref.argmax(axis=1)).mean())
    taus = [float(kendalltau(c, r).statistic) for c, r in zip(cand, ref, strict=True)]
    taus = [1.0 if np.isnan(t) else t for t in taus]  # constant scores: nothing reordered
    return top1, float(np.mean(taus))


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


def throughput(model: EdgeModel, texts: EvalInputs, *, repeats: int = 2) -> float:
    """Best-of-``repeats`` inputs/s (one warm-up call first)."""
    run_task(model, texts[:8])
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run_task(model, texts)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def score(
    model: EdgeModel,
    reference: F32,
    texts: EvalInputs,
    size_bytes: int,
    *,
    timing_texts: int,
    task: str = "feature-extraction",
) -> tuple[Scores, F32]:
    vectors = run_task(model, texts)
    tps = throughput(model, texts[:timing_texts]) if timing_texts else 0.0  # 0: untimed
    if task == "feature-extraction":
        mean_cos, min_cos, agree = accuracy(vectors, reference)
        return Scores(mean_cos, min_cos, agree, tps, size_bytes), vectors
    tau: float | None = None
    if task == "text-ranking":  # one score per pair: cosine does not apply
        (top1, tau), (mean_cos, min_cos) = rank_agreement(vectors, reference), (1.0, 1.0)
        change = float(np.abs(vectors - reference).max())
    else:  # text-classification: label probabilities per text
        mean_cos, min_cos, _ = accuracy(vectors, reference)
        top1, change = label_agreement(vectors, reference)
    scores = Scores(
        mean_cosine=mean_cos,
        min_cosine=min_cos,
        neighbour_agreement=top1,
        texts_per_s=tps,
        size_bytes=size_bytes,
        top1_agreement=top1,
        max_probability_change=change,
        kendall_tau=tau,
    )
    return scores, vectors

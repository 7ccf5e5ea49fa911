"""The start-up check every host runs: does this host reproduce the artifact's smoke vectors?

``optimize`` stores a few real texts and the vectors the artifact gave for them on the build
host (``manifest.smoke``). File hashes prove the files are intact; only running them proves
that this host's ONNX Runtime, its kernels for this CPU, the tokenizer and the pooling give
the same answers. ``edge.load`` runs this check (each text alone, as everything runs on
CPU), so a Lambda init, a Modal container, a batch job, ``precast serve`` and a device all
refuse to serve an artifact that computes garbage here, instead of answering 200 with wrong
vectors. Cost: one session run per smoke text (4 for the sample, a few ms).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from edge.exceptions import ArtifactError
from edge.host import describe_host

if TYPE_CHECKING:
    from edge.loaded_model import LoadedModel

F32 = np.ndarray[Any, np.dtype[np.float32]]
# The manifest stores smoke vectors rounded to 6 decimals: within this, a row is the build
# host's answer exactly (other kernels differ by 1e-3 and more).
SMOKE_ROUNDING = 5e-7 + 1e-7


@dataclass(frozen=True)
class SmokeResult:
    texts: int
    min_cosine: float | None  # None: the manifest has no smoke set
    required: float
    identical: bool  # what the build host computed, to the manifest's 6-decimal rounding

    @property
    def passed(self) -> bool:
        return self.min_cosine is None or self.min_cosine >= self.required


def smoke_vectors(model: LoadedModel, texts: list[str]) -> F32:
    """Each smoke text run alone. Dynamic int8 quantizes activations with one scale per
    batch tensor, so a text's vector shifts slightly with its batch neighbours and padding;
    alone, it depends on the text only. The optimizer writes and every host checks these."""
    return np.vstack([model.predict([t], enforce_limits=False) for t in texts])


def worst_cosine(got: F32, expected: F32) -> float | None:
    """The smallest row cosine between ``got`` and the ``expected`` smoke vectors: None when
    their shapes differ, ``-inf`` when any cosine is not finite. The one smoke comparison:
    the start-up check here and the health check (:mod:`edge.health`) both use it."""
    if got.shape != expected.shape:
        return None
    norms = np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1)
    cosines = (got * expected).sum(axis=1) / np.maximum(norms, 1e-12)
    return float(cosines.min()) if np.isfinite(cosines).all() else float("-inf")


def expected_smoke(model: LoadedModel) -> tuple[list[str], list[Any]] | None:
    """The smoke texts and the vectors the running variant gave for them on the build host
    (a non-default variant records its own; the default's are ``manifest.smoke``)."""
    smoke = model.manifest.smoke
    texts, vectors = smoke.texts, smoke.vectors
    if not texts or vectors is None:
        return None
    variant = model.variant.variant if model.variant is not None else None
    if variant is not None and variant.smoke:
        vectors = variant.smoke
    return list(texts), [list(row) for row in vectors]


def compare_smoke(model: LoadedModel) -> SmokeResult:
    required = model.manifest.smoke.required
    found = expected_smoke(model)
    if found is None:
        return SmokeResult(0, None, required, False)
    texts, vectors = found
    expected = np.asarray(vectors, dtype=np.float32)
    got = smoke_vectors(model, texts)
    worst = worst_cosine(got, expected)
    if worst is None:
        return SmokeResult(len(texts), float("-inf"), required, False)
    same = bool(np.abs(got - expected).max() <= SMOKE_ROUNDING)
    return SmokeResult(len(texts), worst, required, same)


def require_smoke(model: LoadedModel) -> SmokeResult:
    """``compare_smoke``, raising :class:`ArtifactError` when this host fails it."""
    result = compare_smoke(model)
    if not result.passed:
        recipe = model.manifest.quantization.recipe or "?"
        raise ArtifactError(
            f"{model.name} {model.version} (recipe {recipe}, {model.plan.describe()}) fails its "
            f"start-up check on this host, {describe_host()}: min smoke cosine "
            f"{result.min_cosine:.4f} < {result.required} over {result.texts} texts. This "
            "host's ONNX Runtime computes different vectors than the build host did, so it "
            "refuses to serve them. Check the onnxruntime version and CPU emulation here, or "
            "rebuild the artifact on this kind of host."
        )
    return result

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

DEFAULT_MIN_COSINE = 0.99
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


def expected_smoke(model: LoadedModel) -> tuple[list[str], list[Any]] | None:
    """The smoke texts and the vectors the running variant gave for them on the build host
    (a non-default variant records its own; the default's are ``manifest.smoke``)."""
    smoke = model.manifest.smoke
    texts, vectors = smoke.get("texts"), smoke.get("vectors")
    if not isinstance(texts, list) or not isinstance(vectors, list) or not texts:
        return None
    variant = model.variant.variant if model.variant is not None else None
    if variant is not None and variant.smoke:
        vectors = [list(row) for row in variant.smoke]
    return [str(t) for t in texts], vectors


def compare_smoke(model: LoadedModel) -> SmokeResult:
    required = float(model.manifest.smoke.get("min_cosine", DEFAULT_MIN_COSINE))
    found = expected_smoke(model)
    if found is None:
        return SmokeResult(0, None, required, False)
    texts, vectors = found
    expected = np.asarray(vectors, dtype=np.float32)
    got = np.vstack([model.predict([str(t)], enforce_limits=False) for t in texts])
    if got.shape != expected.shape:
        return SmokeResult(len(texts), float("-inf"), required, False)
    norms = np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1)
    cosines = (got * expected).sum(axis=1) / np.maximum(norms, 1e-12)
    worst = float(cosines.min()) if np.isfinite(cosines).all() else float("-inf")
    same = bool(np.abs(got - expected).max() <= SMOKE_ROUNDING)
    return SmokeResult(len(texts), worst, required, same)


def require_smoke(model: LoadedModel) -> SmokeResult:
    """``compare_smoke``, raising :class:`ArtifactError` when this host fails it."""
    result = compare_smoke(model)
    if not result.passed:
        recipe = model.manifest.quantization.get("recipe", "?")
        raise ArtifactError(
            f"{model.name} {model.version} (recipe {recipe}, {model.plan.describe()}) fails its "
            f"start-up check on this host, {describe_host()}: min smoke cosine "
            f"{result.min_cosine:.4f} < {result.required} over {result.texts} texts. This "
            "host's ONNX Runtime computes different vectors than the build host did, so it "
            "refuses to serve them. Check the onnxruntime version and CPU emulation here, or "
            "rebuild the artifact on this kind of host."
        )
    return result

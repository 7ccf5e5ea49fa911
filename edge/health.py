"""Health check of a freshly unpacked version: does it reproduce its own smoke vectors?

``optimize`` stores a few real texts and the vectors the artifact produced for them in
``manifest.smoke``. Reproducing them on the device (cosine >= ``smoke.min_cosine``) shows
that the model loads, the ONNX Runtime build here runs its operators, and the tokenizer
and pooling agree with the build host, before the version is allowed to become current.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.manifest_model import SMOKE_MIN_COSINE
from edge.model import load_directory
from edge.session import SessionConfig
from edge.smoke import expected_smoke, smoke_vectors, worst_cosine

_FALLBACK_TEXT = "precast health check"


@dataclass(frozen=True)
class HealthReport:
    version: str | None
    passed: bool
    min_cosine: float | None
    required: float
    texts: int
    note: str = ""

    def describe(self) -> str:
        if self.min_cosine is None:
            return self.note
        verdict = ">=" if self.passed else "<"
        text = f"min smoke cosine {self.min_cosine:.4f} {verdict} {self.required} on {self.texts}"
        return f"{text} texts" + (f"; {self.note}" if self.note else "")


def smoke_check(directory: Path, session_config: SessionConfig | None = None) -> HealthReport:
    """Load ``directory`` and compare its output on ``smoke.texts`` with ``smoke.vectors``."""
    try:
        # the smoke comparison below reports (not raises) a mismatch, with its cosine
        model = load_directory(directory, session_config=session_config, smoke_test=False)
    except Exception as exc:  # any failure to load is an unhealthy version
        return HealthReport(None, False, None, SMOKE_MIN_COSINE, 0, f"does not load: {exc}")
    required = model.manifest.smoke.required
    version = model.version
    found = expected_smoke(model)
    if found is None:
        out = model.predict([_FALLBACK_TEXT], enforce_limits=False)
        ok = bool(np.isfinite(out).all()) and out.shape[0] == 1
        note = "manifest has no smoke set; checked that it loads and returns finite output"
        return HealthReport(version, ok, None, required, 1, note if ok else "non-finite output")
    texts, vectors = found
    try:
        got = smoke_vectors(model, texts)
        expected = np.asarray(vectors, dtype=np.float32)
    except Exception as exc:  # a smoke text the model cannot run is a failure
        return HealthReport(version, False, None, required, len(texts), f"smoke failed: {exc}")
    worst = worst_cosine(got, expected)
    if worst is None:
        note = f"output shape {got.shape} differs from the smoke vectors' {expected.shape}"
        return HealthReport(version, False, None, required, len(texts), note)
    cert = "" if model.certified else model.certification.describe()
    return HealthReport(version, worst >= required, worst, required, len(texts), cert)

"""A host never serves garbage silently: every load reproduces the manifest's smoke vectors.

A broken host is simulated by wrapping the session run so it returns other vectors (what
an emulator that mis-executes SVE did: every request answered 200 with cosine 0.016)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import edge
from edge.exceptions import ArtifactError
from edge.host import describe_host, host_kind
from edge.manifest import read_manifest
from edge.model import EdgeModel
from functions.registry import ModelRegistry
from functions.settings import Settings


@pytest.fixture
def broken_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    real = EdgeModel._run

    def wrong(self: EdgeModel, batch: list[Any]) -> Any:
        out = real(self, batch)
        return np.roll(out, 7, axis=1)  # still unit norm, but the wrong vector

    monkeypatch.setattr(EdgeModel, "_run", wrong)


def test_a_healthy_load_reproduces_the_smoke_vectors_bit_for_bit(sample_artifact: Path) -> None:
    """GIVEN the sample artifact built on this machine WHEN loaded THEN the start-up check ran
    on every smoke text and matched the build host's vectors exactly (to the manifest's
    6-decimal rounding: same host kind, per-text execution)."""
    model = edge.load(sample_artifact)
    assert model.smoke is not None and model.smoke.passed
    assert model.smoke.texts == len(model.manifest.smoke.texts or ()) > 0
    assert model.smoke.identical and model.smoke.min_cosine == pytest.approx(1.0, abs=1e-6)


def test_a_host_that_computes_other_vectors_refuses_to_load(
    sample_artifact: Path, broken_kernels: None
) -> None:
    """GIVEN a host whose kernels return wrong vectors WHEN the artifact is loaded THEN
    ArtifactError names the host kind, the recipe, the cosine and the required bound."""
    recipe = read_manifest(sample_artifact).quantization.recipe  # chosen by measured speed
    with pytest.raises(ArtifactError) as exc:
        edge.load(sample_artifact)
    message = str(exc.value)
    assert host_kind() in message and describe_host() in message
    assert "start-up check" in message and "min smoke cosine" in message
    assert "< 0.99" in message and f"recipe {recipe}" in message


def test_a_function_host_does_not_start_on_such_a_host(
    sample_artifact: Path, broken_kernels: None
) -> None:
    """GIVEN the same broken host WHEN a function host builds its registry (Lambda init,
    Modal enter, precast serve all do) THEN it fails at start-up, before any request."""
    with pytest.raises(ArtifactError, match="start-up check"):
        ModelRegistry.from_settings(Settings(artifact_dirs=(sample_artifact,)))


def test_the_check_can_be_skipped_explicitly(sample_artifact: Path, broken_kernels: None) -> None:
    """GIVEN smoke_test=False (the updater's health check reports instead of raising)
    WHEN loaded THEN it loads and no smoke result is attached."""
    from edge.model import load_directory

    assert load_directory(sample_artifact, smoke_test=False).smoke is None

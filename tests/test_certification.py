"""Which hosts an artifact is certified for, and what a host of another kind is told."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import edge
from edge.certification import certification
from edge.exceptions import ArtifactError
from edge.host import AARCH64, X86_AVX2, host_kind, kind_of
from edge.manifest import ArtifactManifest, read_manifest


def recertify(directory: Path, certified: dict[str, Any]) -> None:
    """Rewrite ``directory``'s manifest with ``certified`` (and the version that content has)."""
    raw = json.loads((directory / "manifest.json").read_text())
    doc = replace(ArtifactManifest.from_json(raw), certified=certified).versioned()
    (directory / "manifest.json").write_text(json.dumps(doc.to_json(), indent=2))


def test_host_kinds_follow_the_int8_kernels() -> None:
    assert kind_of("x86_64", {"avx2", "avx512_vnni"}) == "x86_64-avx512-vnni"
    assert kind_of("x86_64", {"avx2", "fma"}) == X86_AVX2
    assert kind_of("aarch64", {"asimd"}) == AARCH64 == kind_of("arm64", set())


def test_the_sample_is_certified_for_the_host_that_built_it(sample_model: Any) -> None:
    """GIVEN the sample artifact built on this machine WHEN loaded THEN certified here, and
    the manifest summary lists the certified host kinds."""
    assert sample_model.certified and sample_model.certification.host_kind == host_kind()
    assert host_kind() in sample_model.manifest.summary()["certified_hosts"] or not (
        sample_model.manifest.certified
    )


def test_a_host_kind_never_certified_is_told_and_can_be_refused(
    artifact_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a manifest that certifies aarch64 only WHEN loaded on this x86 host THEN it loads
    with certified False and a description naming both kinds; with
    PRECAST_REQUIRE_CERTIFIED=true the load is an ArtifactError that says what to do."""
    recertify(artifact_copy, {AARCH64: {"mean_cosine": 0.99, "min_cosine": 0.98}})
    model = edge.load(artifact_copy)
    assert not model.certified
    assert f"NOT certified for {host_kind()}" in model.certification.describe()
    assert AARCH64 in model.certification.describe()
    assert certification(read_manifest(artifact_copy), AARCH64).certified
    monkeypatch.setenv("PRECAST_REQUIRE_CERTIFIED", "true")
    with pytest.raises(ArtifactError, match="not certified for this host.*--certify arm64"):
        edge.load(artifact_copy)


def test_the_health_check_reports_certification(
    artifact_copy: Path,
) -> None:
    """GIVEN an artifact not certified for this host WHEN the updater's health check runs
    THEN its report says so (it still passes: the smoke vectors are reproduced)."""
    from edge.health import smoke_check

    recertify(artifact_copy, {AARCH64: {"mean_cosine": 0.99}})
    report = smoke_check(artifact_copy)
    assert report.passed and "NOT certified" in report.describe()

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
from edge.manifest import Manifest, Measurement, read_manifest


def recertify(directory: Path, certified: dict[str, Any]) -> None:
    """Rewrite ``directory``'s manifest with ``certified`` (and the version that content has)."""
    raw = json.loads((directory / "manifest.json").read_text())
    typed = {kind: Measurement.from_json(entry) for kind, entry in certified.items()}
    doc = replace(Manifest.from_json(raw), certified=typed).versioned()
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


def test_healthz_names_the_host_and_warns_when_not_certified(artifact_copy: Path) -> None:
    """GIVEN a function app serving an artifact certified for aarch64 only WHEN GET /healthz
    on this x86 host THEN 200 with certified false and a warning naming both host kinds."""
    import httpx

    from functions.app import create_app
    from functions.registry import ModelRegistry
    from functions.settings import Settings

    recertify(artifact_copy, {AARCH64: {"mean_cosine": 0.99}})
    settings = Settings(artifact_dirs=(artifact_copy,))
    app = create_app(ModelRegistry.from_settings(settings), settings=settings)

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get("/healthz")

    import asyncio

    body = asyncio.run(get()).json()
    assert body["host"] == host_kind() and body["certified"] == {"minilm": False}
    (warning,) = body["warnings"]
    assert "NOT certified" in warning and AARCH64 in warning


# -- the cache contract: what a reader may serve -------------------------------------------


def test_sqlite_keeps_computed_by_and_migrates_an_older_cache_file(tmp_path: Path) -> None:
    """GIVEN a cache file made before entries recorded who computed them WHEN opened THEN
    old rows read with computed_by '' and new rows keep their tag."""
    import sqlite3

    import numpy as np

    from edge.cache import CacheEntry, SQLiteCache

    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE predictions (key TEXT PRIMARY KEY, model_version TEXT NOT NULL, "
        "vector BLOB NOT NULL, created_at REAL NOT NULL, expires_at REAL) WITHOUT ROWID"
    )
    conn.execute("INSERT INTO predictions VALUES ('k0', 'v1', ?, 1.0, NULL)", (b"\0" * 8,))
    conn.commit()
    conn.close()
    cache = SQLiteCache(path)
    try:
        new = CacheEntry.make("v1", "t", np.ones(2, np.float32), computed_by="aarch64/per-text")
        assert cache.put_many([new]) == 1
        got = cache.get_many("v1", ["k0", new.key])
        assert got["k0"].computed_by == "" and got[new.key].computed_by == "aarch64/per-text"
    finally:
        cache.close()


def test_the_hybrid_path_serves_only_what_this_host_may(
    artifact_copy: Path, tmp_path: Path
) -> None:
    """GIVEN cached answers tagged by this host, by certified aarch64 and by an uncertified
    kind WHEN the hybrid path reads them THEN the first two are served as hits, the third is
    a miss computed live; what it writes is tagged with this host's kind and plan."""
    import numpy as np

    from edge.cache import CacheEntry, SQLiteCache
    from edge.hybrid import predict_with_cache

    recertify(artifact_copy, {host_kind(): {"mean_cosine": 0.99}, AARCH64: {"mean_cosine": 0.99}})
    model = edge.load(artifact_copy)
    texts = ["from this host", "from arm64", "from an uncertified host", "not cached"]
    tags = [model.computed_by, f"{AARCH64}/per-text", "riscv64/per-text"]
    cache = SQLiteCache(tmp_path / "c.sqlite")
    try:
        fake = np.full(model.manifest.dim, 0.05, np.float32)
        tagged = zip(texts[:3], tags, strict=True)
        cache.put_many([CacheEntry.make(model.version, t, fake, computed_by=b) for t, b in tagged])
        result = predict_with_cache(model, cache, texts)
        assert result.cached == [True, True, False, False]
        np.testing.assert_array_equal(result.vectors[2], model.predict([texts[2]])[0])
        assert {e.computed_by for e in result.new_entries} == {model.computed_by}
        assert model.computed_by == f"{host_kind()}/per-text"
    finally:
        cache.close()

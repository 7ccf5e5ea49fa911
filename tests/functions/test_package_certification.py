"""`precast package lambda` refuses an artifact not certified for the architecture it builds.

GIVEN the manifest's certification record (``certified``: host kind -> what was measured)
WHEN an asset is packaged for arm64 or x86_64 THEN it is refused with the command that
certifies it, unless ``[models.X.lambda] allow_uncertified = true`` (then a warning).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from edge.certification import kinds_for_architecture
from edge.host import AARCH64, X86_AVX2, X86_AVX512_VNNI, host_kind
from edge.manifest import Manifest, parse_manifest
from precast.project.exceptions import UncertifiedArtifactError
from precast.project.lambda_asset import check_certified


def _manifest(*kinds: str, **fields: Any) -> Manifest:
    return parse_manifest(
        {
            "format_version": 1,
            "name": "minilm",
            "version": "f" * 64,
            "task": "feature-extraction",
            "pooling": "mean",
            "max_tokens": 128,
            "inputs": ["input_ids", "attention_mask"],
            "outputs": [{"name": "last_hidden_state"}],
            "files": {
                "model.onnx": {"sha256": "a" * 64, "size": 1},
                "tokenizer.json": {"sha256": "b" * 64, "size": 1},
            },
            "certified": {k: {"mean_cosine": 0.99} for k in kinds},
            **fields,
        }
    )


def test_arm64_needs_an_aarch64_certification() -> None:
    with pytest.raises(UncertifiedArtifactError) as info:
        check_certified("minilm", _manifest(X86_AVX512_VNNI), "arm64", allow_uncertified=False)
    message = str(info.value)
    assert "`precast optimize minilm --certify arm64`" in message
    assert "allow_uncertified = true in [models.minilm.lambda]" in message
    assert "certified: x86_64-avx512-vnni" in message
    assert check_certified("minilm", _manifest(AARCH64), "arm64", allow_uncertified=False) is None


def test_x86_64_accepts_any_x86_kind_and_refuses_arm64_only() -> None:
    for kind in (X86_AVX2, X86_AVX512_VNNI):
        assert check_certified("m", _manifest(kind), "x86_64", allow_uncertified=False) is None
    with pytest.raises(UncertifiedArtifactError, match="on an x86_64 host"):
        check_certified("m", _manifest(AARCH64), "x86_64", allow_uncertified=False)


def test_allow_uncertified_turns_the_refusal_into_a_warning() -> None:
    warning = check_certified("m", _manifest(X86_AVX2), "arm64", allow_uncertified=True)
    assert warning and "not certified for Lambda arm64" in warning


def test_local_builds_are_not_a_deploy_target() -> None:
    assert check_certified("m", _manifest(), "local", allow_uncertified=False) is None


def test_an_old_manifest_counts_the_kind_it_was_measured_on() -> None:
    """Manifests from before ``certified`` existed name their build host in metrics."""
    old = _manifest(metrics={"measured_on": {"machine": "aarch64", "isa": ["asimddp"]}})
    assert kinds_for_architecture(old, "arm64") == (AARCH64,)
    assert kinds_for_architecture(old, "x86_64") == ()


@pytest.mark.slow
def test_package_refuses_the_default_build_for_arm64_before_fetching_wheels(
    sample_artifact: Path, repo_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN the sample build (certified for this build host only) and the repo's config
    (arm64) WHEN `precast package lambda minilm` runs THEN it exits 1 naming the command to
    certify, and nothing was built."""
    from precast.cli import main

    if host_kind() == AARCH64:
        pytest.skip("built on arm64: the build itself certifies aarch64")
    text = (repo_root / "precast.toml").read_text(encoding="utf-8")
    text = re.sub(r"\[project\]\n(?:[^\[\n].*\n)*", "[project]\n", text, count=1)
    (tmp_path / "precast.toml").write_text(text, encoding="utf-8")
    artifacts = tmp_path / "artifacts" / "minilm"
    shutil.copytree(sample_artifact, artifacts / sample_artifact.name)
    (artifacts / "latest").write_text(sample_artifact.name + "\n", encoding="utf-8")
    argv = ["--config", str(tmp_path / "precast.toml"), "package", "lambda", "minilm"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "precast optimize minilm --certify arm64" in err
    assert not (tmp_path / "dist").exists()

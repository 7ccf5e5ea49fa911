"""Synth refuses a Lambda asset whose artifact is not certified for the architecture it
deploys, unless ``[models.X.lambda] allow_uncertified = true`` (then it warns).

GIVEN an asset whose artifact manifest certifies some host kinds WHEN the app is built for
an arm64 or x86_64 function THEN it is refused with the command that certifies it, or
accepted (with a synth warning when the config allows an uncertified artifact). The stack
is constructed, not synthesized: the check runs while the app is built, as ``cdk synth``
does first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cdk_support import make_lambda_asset

from precast.project.exceptions import UncertifiedArtifactError

TOML = """
[models.m]
source = "package:not_needed_to_synthesize"
targets = ["lambda"]

[models.m.lambda]
architecture = "{arch}"
{extra}
"""


def _build(tmp_path: Path, asset: Path, arch: str, extra: str = "") -> Any:
    from cdk.app import build_app

    config = tmp_path / "precast.toml"
    config.write_text(TOML.format(arch=arch, extra=extra), encoding="utf-8")
    _, stack = build_app(
        {"precast:config": str(config), "precast:assetDir": str(asset)},
        outdir=str(tmp_path / "cdk.out"),
    )
    return stack


def _warnings(stack: Any) -> list[str]:
    """The function's synth warnings about certification (SnapStart adds one of its own)."""
    fn = stack.functions["m"].function
    found = [str(m.data) for m in fn.node.metadata if m.type == "aws:cdk:warning"]
    return [w for w in found if "certified" in w]


def test_arm64_refuses_an_artifact_certified_only_on_x86(tmp_path: Path) -> None:
    asset = make_lambda_asset(tmp_path / "asset", certified=("x86_64-avx512-vnni",))
    with pytest.raises(UncertifiedArtifactError) as info:
        _build(tmp_path, asset, "arm64")
    message = str(info.value)
    assert "not certified for Lambda arm64" in message
    assert "`precast optimize m --certify arm64`" in message
    assert 'architecture = "x86_64"' in message and "certified for it" in message
    assert "allow_uncertified = true in [models.m.lambda]" in message


def test_x86_64_refuses_an_artifact_certified_only_on_arm64(tmp_path: Path) -> None:
    asset = make_lambda_asset(tmp_path / "asset", certified=("aarch64",))
    with pytest.raises(UncertifiedArtifactError, match="on an x86_64 host"):
        _build(tmp_path, asset, "x86_64")


def test_an_old_manifest_with_no_record_is_refused(tmp_path: Path) -> None:
    asset = make_lambda_asset(tmp_path / "asset", certified=())
    with pytest.raises(UncertifiedArtifactError, match=r"certified: none"):
        _build(tmp_path, asset, "arm64")


def test_allow_uncertified_synthesizes_with_a_warning(tmp_path: Path) -> None:
    asset = make_lambda_asset(tmp_path / "asset", certified=("x86_64-avx2",))
    stack = _build(tmp_path, asset, "arm64", "allow_uncertified = true")
    (warning,) = _warnings(stack)
    assert "not certified for Lambda arm64" in warning and "allow_uncertified" in warning


@pytest.mark.parametrize(("arch", "kind"), [("arm64", "aarch64"), ("x86_64", "x86_64-avx2")])
def test_a_certified_artifact_synthesizes_without_a_warning(
    tmp_path: Path, arch: str, kind: str
) -> None:
    """x86_64 Lambda promises no CPU generation: any certified x86_64 kind counts."""
    asset = make_lambda_asset(tmp_path / "asset", certified=(kind,))
    assert _warnings(_build(tmp_path, asset, arch)) == []


def test_an_asset_without_an_artifact_manifest_names_the_command(tmp_path: Path) -> None:
    from cdk.exceptions import LambdaAssetMissingError

    asset = make_lambda_asset(tmp_path / "asset")
    (asset / "artifact" / "manifest.json").unlink()
    with pytest.raises(LambdaAssetMissingError, match="artifact/manifest.json.*precast package"):
        _build(tmp_path, asset, "arm64")

"""Lambda SnapStart in the stack: on by default, on published versions, limits refused at synth.

GIVEN the repo's precast.toml (SnapStart on by default), WHEN synthesized, THEN the function
has ``SnapStart: {ApplyOn: PublishedVersions}`` and the ``live`` alias points at a
published version (SnapStart applies to versions, never to ``$LATEST``). GIVEN a
combination Lambda refuses (provisioned concurrency or ephemeral storage > 512 MB with
SnapStart), THEN synth stops with an error naming the keys to change.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from cdk_support import Synthesized, make_lambda_asset, synthesize
from test_cdk_variants import VARIANT_TOML, write_project

from cdk.exceptions import LambdaTargetError
from cdk.inference_function import SNAPSTART_MAX_EPHEMERAL_MB, check_snapstart
from precast.project.config import LambdaTarget


def _function(real_app: Synthesized) -> tuple[str, dict[str, object]]:
    (logical_id, resource), *_ = (
        (k, r)
        for k, r in real_app.resources("AWS::Lambda::Function").items()
        if r["Properties"].get("Handler") == "functions.lambda_handler.handler"
    )
    return logical_id, resource["Properties"]


@pytest.mark.slow
def test_function_snapstarts_published_versions_and_the_alias_is_one(
    real_app: Synthesized,
) -> None:
    """GIVEN the default config WHEN synthesized THEN SnapStart applies to published versions,
    /tmp is 512 MB, and the alias's version is an AWS::Lambda::Version of this function."""
    logical_id, props = _function(real_app)
    assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert props["EphemeralStorage"] == {"Size": SNAPSTART_MAX_EPHEMERAL_MB}
    versions = real_app.resources("AWS::Lambda::Version")
    (alias,) = (
        r["Properties"]
        for r in real_app.resources("AWS::Lambda::Alias").values()
        if r["Properties"]["Name"] == "live"
    )
    version_ref = alias["FunctionVersion"]["Fn::GetAtt"]
    assert version_ref[1] == "Version"
    version = versions[version_ref[0]]["Properties"]
    assert version["FunctionName"] == {"Ref": logical_id}
    assert "ProvisionedConcurrencyConfig" not in alias


def test_snapstart_off_is_allowed_with_provisioned_concurrency() -> None:
    """GIVEN snapstart = false WHEN checked THEN any provisioned concurrency or /tmp size is
    accepted and SnapStart is off."""
    cfg = LambdaTarget(
        snapstart=False,
        reserved_concurrency=5,
        provisioned_concurrency=2,
        ephemeral_storage_mb=4096,
    )
    assert check_snapstart("m", cfg) is False
    assert check_snapstart("m", LambdaTarget()) is True


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"reserved_concurrency": 5, "provisioned_concurrency": 2},
            "[models.m.lambda] snapstart = true cannot be combined with "
            "provisioned_concurrency = 2",
        ),
        (
            {"ephemeral_storage_mb": 1024},
            "[models.m.lambda] snapstart = true allows ephemeral_storage_mb <= 512, got 1024",
        ),
    ],
)
def test_invalid_combinations_name_the_keys(changes: dict[str, int], message: str) -> None:
    """GIVEN SnapStart on and a setting Lambda refuses with it WHEN checked THEN a
    LambdaTargetError names the table, both keys and the way out (snapstart = false)."""
    with pytest.raises(LambdaTargetError) as info:
        check_snapstart("m", replace(LambdaTarget(), **changes))
    assert message in str(info.value)
    assert "snapstart = false" in str(info.value)


@pytest.mark.slow
def test_synth_stops_on_snapstart_with_provisioned_concurrency(tmp_path: Path) -> None:
    """GIVEN the variant project with its provisioned alias but SnapStart left on WHEN
    synthesized THEN synth stops with the error naming that model's keys."""
    config = write_project(tmp_path, VARIANT_TOML.replace("snapstart = false\n", ""))
    asset = make_lambda_asset(tmp_path / "asset")
    with pytest.raises(LambdaTargetError, match=r"\[models\.alpha\.lambda\] snapstart = true"):
        synthesize({"precast:config": str(config), "precast:assetDir": str(asset)}, tmp_path / "o")

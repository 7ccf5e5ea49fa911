"""The other branches of precast.toml: prod, x86, public URL, EC2 Spot, a Dockerfile image.

GIVEN a project whose config takes every non-default choice, WHEN it is synthesized with
``env=prod`` and no registry image (so ``batch/Dockerfile`` is an image asset and Docker is
not needed until deploy), THEN each choice shows up in the template, and cdk-nag still passes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cdk_support import Synthesized, make_lambda_asset, synthesize

from cdk.exceptions import BatchTargetError, ContextError, LambdaAssetMissingError

pytestmark = pytest.mark.slow

VARIANT_TOML = """
[project]
keys_dir = "keys"

[models.alpha]
source = "package:not_needed_to_synthesize"
targets = ["lambda", "edge"]

[models.alpha.lambda]
architecture = "x86_64"
python = "3.13"
memory_mb = 1024
timeout_s = 10
auth = "none"
reserved_concurrency = 5
provisioned_concurrency = 2
snapstart = false
ephemeral_storage_mb = 2048
rollout = "all-at-once"

[models.beta-2]
source = "package:not_needed_to_synthesize"
targets = ["lambda", "batch"]

[models.beta-2.lambda]
rollout = "linear-10pct-1min"

[models.beta-2.batch]
input = "s3://in-bucket/texts/"
output = "s3://out-bucket/beta/"
capacity = "ec2-spot"
array_size = 1
vcpus = 4
memory_mb = 8192
schedule = "rate(1 day)"
"""
PUBLIC_KEY = "dGVzdC1wdWJsaWMta2V5LTMyLWJ5dGVzLWxvbmctZW5vdWdo"


def write_project(root: Path, toml: str = VARIANT_TOML, *, with_artifact: bool = True) -> Path:
    (root / "batch").mkdir(parents=True, exist_ok=True)
    (root / "batch" / "Dockerfile").write_text("FROM python:3.12-slim\n", encoding="utf-8")
    if with_artifact:  # the batch image bakes in the model's latest artifact
        (root / "artifacts" / "beta-2" / "v1").mkdir(parents=True, exist_ok=True)
        (root / "artifacts" / "beta-2" / "v1" / "manifest.json").write_text("{}\n")
        (root / "artifacts" / "beta-2" / "latest").write_text("v1\n", encoding="utf-8")
    (root / "keys").mkdir(exist_ok=True)
    (root / "keys" / "targets.pub").write_text(PUBLIC_KEY + "\n", encoding="utf-8")
    (root / "keys" / "targets.key").write_text("secret\n", encoding="utf-8")
    config = root / "precast.toml"
    config.write_text(toml, encoding="utf-8")
    return config


@pytest.fixture(scope="module")
def variant(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    root = tmp_path_factory.mktemp("variant-project")
    config = write_project(root)
    asset = make_lambda_asset(tmp_path_factory.mktemp("variant-asset"))
    return synthesize(
        {"env": "prod", "precast:config": str(config), "precast:assetDir": str(asset)},
        tmp_path_factory.mktemp("variant.out"),
    )


def _function(variant: Synthesized, model: str) -> dict[str, object]:
    for logical_id, resource in variant.resources("AWS::Lambda::Function").items():
        if logical_id.startswith(f"Inference{model}Function"):
            return resource["Properties"]  # type: ignore[no-any-return]
    raise AssertionError(f"no function for {model}")


def test_variant_passes_nag_and_validation(variant: Synthesized) -> None:
    assert variant.error is None, variant.error


def test_prod_retains_data_and_protects_the_stack(variant: Synthesized) -> None:
    assert variant.stack.stack_name == "Precast-prod"
    assert variant.stack.termination_protection is True
    for bucket in variant.resources("AWS::S3::Bucket").values():
        assert bucket["DeletionPolicy"] == "Retain"
    table = variant.one("AWS::DynamoDB::GlobalTable")
    assert table["Replicas"][0]["DeletionProtectionEnabled"] is True


def test_public_url_is_throttled_by_reserved_concurrency(variant: Synthesized) -> None:
    alpha = _function(variant, "alpha")
    assert alpha["Architectures"] == ["x86_64"]
    assert alpha["Runtime"] == "python3.13"
    assert alpha["MemorySize"] == 1024
    assert alpha["ReservedConcurrentExecutions"] == 5
    urls = {r["Properties"]["AuthType"] for r in variant.resources("AWS::Lambda::Url").values()}
    assert urls == {"NONE", "AWS_IAM"}  # alpha is public, beta-2 keeps the IAM default


def test_provisioned_concurrency_is_on_the_alias(variant: Synthesized) -> None:
    configs = [
        r["Properties"].get("ProvisionedConcurrencyConfig")
        for r in variant.resources("AWS::Lambda::Alias").values()
    ]
    assert {"ProvisionedConcurrentExecutions": 2} in configs
    assert None in configs  # beta-2 has none


def test_snapstart_off_for_the_provisioned_model_and_on_for_the_other(
    variant: Synthesized,
) -> None:
    alpha, beta = _function(variant, "alpha"), _function(variant, "beta2")
    assert "SnapStart" not in alpha
    assert alpha["EphemeralStorage"] == {"Size": 2048}
    assert beta["SnapStart"] == {"ApplyOn": "PublishedVersions"}


def test_rollout_strategies_follow_the_config(variant: Synthesized) -> None:
    names = {
        r["Properties"]["DeploymentConfigName"]
        for r in variant.resources("AWS::CodeDeploy::DeploymentGroup").values()
    }
    assert names == {
        "CodeDeployDefault.LambdaAllAtOnce",
        "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
    }


def test_ec2_spot_uses_price_capacity_optimized(variant: Synthesized) -> None:
    resources = variant.one("AWS::Batch::ComputeEnvironment")["ComputeResources"]
    assert resources["Type"] == "SPOT"
    assert resources["AllocationStrategy"] == "SPOT_PRICE_CAPACITY_OPTIMIZED"
    assert resources["MinvCpus"] == 0
    job = variant.one("AWS::Batch::JobDefinition")
    assert job["PlatformCapabilities"] == ["EC2"]


def test_single_job_schedule_has_no_array_properties(variant: Synthesized) -> None:
    schedule = variant.one("AWS::Scheduler::Schedule")
    assert schedule["ScheduleExpression"] == "rate(1 day)"
    rendered = "".join(p for p in schedule["Target"]["Input"]["Fn::Join"][1] if isinstance(p, str))
    assert "ArrayProperties" not in rendered


def test_batch_image_is_built_from_the_dockerfile_without_the_keys(
    variant: Synthesized,
) -> None:
    import json

    assets = json.loads((variant.outdir / "Precast-prod.assets.json").read_text())
    (image,) = assets["dockerImages"].values()
    assert image["source"]["dockerFile"] == "batch/Dockerfile"
    assert image["source"]["dockerBuildArgs"] == {"ARTIFACT": "artifacts/beta-2/v1"}
    staged = variant.outdir / image["source"]["directory"]
    assert (staged / "batch" / "Dockerfile").is_file()
    assert (staged / "artifacts" / "beta-2" / "v1" / "manifest.json").is_file()
    assert not (staged / "keys").exists()  # the signing keys never enter a build context
    assert "ecr:GetAuthorizationToken" in json.dumps(variant.template)


def test_public_key_is_published_for_devices(variant: Synthesized) -> None:
    assert variant.template["Outputs"]["EdgeSigningPublicKey"]["Value"] == PUBLIC_KEY
    assert variant.template["Outputs"]["FunctionUrlBeta2"]


def test_missing_lambda_asset_names_the_command_to_run(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    with pytest.raises(LambdaAssetMissingError) as info:
        synthesize({"precast:config": str(config)}, tmp_path / "out")
    message = str(info.value)
    assert "precast package lambda alpha --arch x86_64" in message
    assert str(tmp_path / "dist" / "lambda" / "alpha-x86_64") in message


def test_local_batch_input_is_rejected_with_the_key(tmp_path: Path) -> None:
    toml = VARIANT_TOML.replace('input = "s3://in-bucket/texts/"', 'input = "data/texts.jsonl"')
    config = write_project(tmp_path, toml)
    asset = make_lambda_asset(tmp_path / "asset")
    with pytest.raises(BatchTargetError, match=r"models\.beta-2\.batch\.input"):
        synthesize(
            {"precast:config": str(config), "precast:assetDir": str(asset)}, tmp_path / "out"
        )


def test_unknown_env_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ContextError, match="Choices are: dev|prod"):
        synthesize({"env": "staging"}, tmp_path / "out")


def test_batch_without_an_artifact_names_the_command_to_run(tmp_path: Path) -> None:
    config = write_project(tmp_path, with_artifact=False)
    asset = make_lambda_asset(tmp_path / "asset")
    with pytest.raises(BatchTargetError) as info:
        synthesize(
            {"precast:config": str(config), "precast:assetDir": str(asset)}, tmp_path / "out"
        )
    assert "precast optimize beta-2" in str(info.value)

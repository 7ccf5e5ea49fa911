"""Context parsing and S3 grant helpers: fast, no synth."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdk.exceptions import CdkAppError, ContextError
from cdk.s3_access import parse_s3_uri, s3_prefix_finding
from cdk.settings import DUMMY_ACCOUNT, DeploySettings


class Context:
    def __init__(self, **values: object) -> None:
        self.values = values

    def try_get_context(self, key: str) -> object:
        return self.values.get(key)


def test_defaults_synthesize_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDK_DEFAULT_ACCOUNT", raising=False)
    monkeypatch.delenv("CDK_DEFAULT_REGION", raising=False)
    settings = DeploySettings.from_context(Context())
    assert (settings.env, settings.account, settings.region) == ("dev", DUMMY_ACCOUNT, "us-east-1")
    assert settings.availability_zones == ("us-east-1a", "us-east-1b")
    assert settings.stack_name == "Precast-dev"
    assert settings.asset_dir is None and settings.container_image is None


def test_cli_credentials_win_over_dummies_and_context_over_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", "111111111111")
    monkeypatch.setenv("CDK_DEFAULT_REGION", "eu-west-1")
    assert DeploySettings.from_context(Context()).account == "111111111111"
    settings = DeploySettings.from_context(
        Context(env="prod", account="222222222222", region="us-west-1", **{
            "precast:azs": "us-west-1b, us-west-1c",
            "precast:assetDir": "build/asset",
        })
    )  # fmt: skip
    assert settings.is_prod and settings.account == "222222222222"
    assert settings.availability_zones == ("us-west-1b", "us-west-1c")
    assert settings.asset_dir == Path("build/asset")


def test_bad_env_lists_the_choices() -> None:
    with pytest.raises(ContextError, match=r"Choices are: dev\|prod"):
        DeploySettings.from_context(Context(env="staging"))


def test_s3_uri_parsing_and_findings() -> None:
    assert parse_s3_uri("s3://bucket/a/b.jsonl") == ("bucket", "a/b.jsonl")
    assert parse_s3_uri("s3://bucket") == ("bucket", "")
    assert s3_prefix_finding("s3://b/out/") == "Resource::arn:<AWS::Partition>:s3:::b/out/*"
    with pytest.raises(CdkAppError):
        parse_s3_uri("/local/path")
    with pytest.raises(CdkAppError):
        parse_s3_uri("s3:///key")

"""Fixtures for the CDK app tests: one synthesized real app per session, offline.

The real app reads the repo's precast.toml. Two context values make it synthesize on a
machine with no build outputs and no Docker: a stub Lambda asset directory (a real
``functions/lambda_handler.py`` is not needed to synthesize) and a registry image for the
batch job instead of building ``batch/Dockerfile``. No AWS credentials are used: account
and region are the dummies from ``cdk.settings``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cdk_support import REGISTRY_IMAGE, REPO, Synthesized, make_lambda_asset, synthesize


@pytest.fixture(scope="session")
def lambda_asset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_lambda_asset(tmp_path_factory.mktemp("lambda-asset"))


@pytest.fixture(scope="session")
def real_app(lambda_asset: Path, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The repo's own precast.toml, env=dev, synthesized once per test session."""
    return synthesize(
        {
            "precast:config": str(REPO / "precast.toml"),
            "precast:assetDir": str(lambda_asset),
            "precast:containerImage": REGISTRY_IMAGE,
        },
        tmp_path_factory.mktemp("cdk.out"),
    )

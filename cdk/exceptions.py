"""Errors the CDK app raises at synth time. Each message says what to run or set."""

from __future__ import annotations

from edge.exceptions import PrecastError


class CdkAppError(PrecastError):
    """The CDK app cannot be synthesized from the current config and build outputs."""


class ContextError(CdkAppError):
    """A ``-c key=value`` context value is not allowed; the message lists the choices."""


class LambdaAssetMissingError(CdkAppError):
    """The Lambda zip asset directory for a model has not been built yet."""

    def __init__(self, model: str, architecture: str, asset_dir: str, reason: str) -> None:
        super().__init__(
            f"Lambda asset for model {model!r} ({architecture}) {reason}: {asset_dir}. "
            f"Build it with `precast package lambda {model} --arch {architecture}`, "
            "or pass an existing directory with `-c precast:assetDir=PATH`."
        )
        self.model = model
        self.architecture = architecture
        self.asset_dir = asset_dir


class BatchTargetError(CdkAppError):
    """A model's ``[batch]`` table cannot run on AWS Batch (e.g. a local input path)."""


class LambdaTargetError(CdkAppError):
    """A model's ``[lambda]`` table asks for a combination Lambda refuses (e.g. SnapStart
    with provisioned concurrency); the message names the keys and what to change."""

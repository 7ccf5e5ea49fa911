"""Deploy settings read from CDK context (``-c key=value`` or ``cdk.json``).

Context keys (all optional):

==========================  ===========================================================
``env``                     ``dev`` (default) or ``prod``: removal policies, log
                            retention, table deletion protection, stack name.
``account`` / ``region``    Target account and region. Default: ``CDK_DEFAULT_ACCOUNT``
                            / ``CDK_DEFAULT_REGION`` (set by the CLI when credentials
                            exist), else a dummy ``123456789012`` / ``us-east-1`` so
                            ``cdk synth`` works offline.
``precast:config``          Path to ``precast.toml`` (default ``precast.toml``).
``precast:assetDir``        Lambda asset directory to use for every Lambda model instead
                            of ``dist/lambda/<model>-<arch>/``.
``precast:containerImage``  Batch image from a registry (e.g.
                            ``public.ecr.aws/docker/library/python:3.12-slim``) instead of
                            building ``batch/Dockerfile``.
``precast:azs``             Comma-separated availability zones for the batch VPC
                            (default ``<region>a,<region>b``; no lookup, so no creds).
``precast:modalRedeploy``   Any new value forces the Modal app to redeploy (e.g. after
                            the token secret was filled in).
==========================  ===========================================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cdk.exceptions import ContextError

ENVIRONMENTS = ("dev", "prod")
DUMMY_ACCOUNT = "123456789012"
DUMMY_REGION = "us-east-1"


class ContextReader(Protocol):
    """What we need from ``constructs.Node``: ``try_get_context``."""

    def try_get_context(self, key: str) -> object: ...


@dataclass(frozen=True)
class DeploySettings:
    env: str = "dev"
    account: str = DUMMY_ACCOUNT
    region: str = DUMMY_REGION
    config_path: Path = Path("precast.toml")
    asset_dir: Path | None = None
    container_image: str | None = None
    availability_zones: tuple[str, ...] = ()
    modal_redeploy: str = "0"

    @property
    def is_prod(self) -> bool:
        return self.env == "prod"

    @property
    def stack_name(self) -> str:
        return f"Precast-{self.env}"

    @classmethod
    def from_context(cls, node: ContextReader) -> DeploySettings:
        def text(key: str) -> str | None:
            value = node.try_get_context(key)
            if value is None or value == "":
                return None
            if not isinstance(value, str | int):
                raise ContextError(f"context {key!r} must be a string, got {value!r}")
            return str(value)

        env = text("env") or "dev"
        if env not in ENVIRONMENTS:
            raise ContextError(f"context env={env!r} is not allowed. Choices are: dev|prod")
        region = text("region") or os.environ.get("CDK_DEFAULT_REGION") or DUMMY_REGION
        account = text("account") or os.environ.get("CDK_DEFAULT_ACCOUNT") or DUMMY_ACCOUNT
        azs_text = text("precast:azs")
        azs = tuple(a.strip() for a in azs_text.split(",") if a.strip()) if azs_text else ()
        asset_dir = text("precast:assetDir")
        return cls(
            env=env,
            account=account,
            region=region,
            config_path=Path(text("precast:config") or "precast.toml"),
            asset_dir=Path(asset_dir) if asset_dir else None,
            container_image=text("precast:containerImage"),
            availability_zones=azs or (f"{region}a", f"{region}b"),
            modal_redeploy=text("precast:modalRedeploy") or "0",
        )

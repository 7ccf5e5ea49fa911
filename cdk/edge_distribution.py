"""EdgeDistribution: how devices fetch signed bundles from ``bundles/`` in the model store.

Two ways, both read-only and scoped to ``bundles/`` (never ``artifacts/`` or the logs):

* **Scoped credentials**: ``device_role`` is assumable by the AWS IoT credentials provider
  (a device trades its X.509 certificate for short-lived credentials through the
  ``role_alias``), and carries ``read_policy``: ``s3:GetObject`` on ``bundles/*`` only.
  Attach ``read_policy`` to any other principal (an IAM Roles Anywhere profile, a fleet
  role) the same way.
* **Presigned URLs**: anyone holding ``read_policy`` can presign a GET for a device that
  holds no AWS credentials at all (see docs/deploy.md).

Each ``bundles/<model>/`` prefix is a TUF channel (``metadata/`` + ``targets/``), so the same
GetObject grant serves the signed metadata and the bundles, read-only. A device trusts the
channel's ``metadata/1.root.json`` (baked into its image); the targets public key, which
also signs each bundle's ``bundle.sig`` for offline loads, is a stack output. No private
key leaves ``keys_dir``.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_iam as iam
from aws_cdk import aws_iot as iot
from constructs import Construct

from cdk.model_store import ModelStore
from cdk.nag import acknowledge

PUBLIC_KEY_FILE = "targets.pub"  # edge.signing: <role>.pub; targets signs bundle.sig
MISSING_KEY_MESSAGE = "no channel keys yet: run `precast keys`, then redeploy"
CREDENTIAL_DURATION_S = 3600


def read_public_key(keys_dir: Path) -> str:
    """The targets public key text (base64) from ``keys_dir``, or what to run to make it."""
    path = keys_dir / PUBLIC_KEY_FILE
    if not path.is_file():
        return MISSING_KEY_MESSAGE
    text = " ".join(path.read_text(encoding="utf-8").split())
    return text or MISSING_KEY_MESSAGE


class EdgeDistribution(Construct):
    """Read-only bundle access for devices. Public attributes: ``read_policy``,
    ``device_role``, ``role_alias``, ``public_key``, ``bundles_uri``."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        store: ModelStore,
        keys_dir: Path,
        role_alias_name: str,
    ) -> None:
        super().__init__(scope, id_)
        self.bundles_uri = f"s3://{store.bucket.bucket_name}/{store.bundles_prefix}"
        self.read_policy = iam.ManagedPolicy(
            self,
            "BundleRead",
            description="precast edge devices: read TUF channels (metadata, bundles) in bundles/",
            statements=[
                iam.PolicyStatement(
                    actions=["s3:GetObject"],
                    resources=[store.object_arn(store.bundles_prefix)],
                )
            ],
        )
        acknowledge(
            self.read_policy,
            f"AwsSolutions-IAM5[{store.object_finding(store.bundles_prefix)}]",
            "Devices fetch TUF metadata and content-addressed bundles of each channel; "
            "GetObject only, scoped to bundles/, never artifacts/ or listing.",
        )
        self.device_role = iam.Role(
            self,
            "DeviceRole",
            assumed_by=iam.ServicePrincipal("credentials.iot.amazonaws.com"),
            description="Assumed by precast devices via the AWS IoT credentials provider",
            managed_policies=[self.read_policy],
        )
        self.role_alias = iot.CfnRoleAlias(
            self,
            "RoleAlias",
            role_alias=role_alias_name,
            role_arn=self.device_role.role_arn,
            credential_duration_seconds=CREDENTIAL_DURATION_S,
        )
        self.public_key = read_public_key(keys_dir)

"""ModelStore: the S3 bucket holding artifacts (``artifacts/``) and edge bundles (``bundles/``).

Security choices, all visible here:

* SSE-S3 encryption (``S3_MANAGED``): readers (the Lambda, batch, devices holding scoped
  credentials) need no KMS grants, and there is no per-request KMS cost. Objects are
  public artifacts of *your* model, not secrets; switch to ``KMS`` if yours are.
* TLS only (``enforce_ssl``, minimum TLS 1.2), all public access blocked, ACLs disabled.
* Versioned, so an overwritten bundle can be recovered; noncurrent versions expire.
* Server access logs go to a separate logs bucket (SSE-S3: log delivery cannot use KMS).
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk.nag import acknowledge

ARTIFACTS_PREFIX = "artifacts/"
BUNDLES_PREFIX = "bundles/"


def _hardened_bucket(
    scope: Construct,
    id_: str,
    *,
    removal_policy: RemovalPolicy,
    lifecycle_rules: list[s3.LifecycleRule],
    versioned: bool = False,
    access_logs: s3.IBucket | None = None,
    access_logs_prefix: str | None = None,
) -> s3.Bucket:
    """A private, TLS-only, SSE-S3 bucket with ACLs disabled."""
    return s3.Bucket(
        scope,
        id_,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned=versioned,
        lifecycle_rules=lifecycle_rules,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=access_logs_prefix,
        removal_policy=removal_policy,
    )


class ModelStore(Construct):
    """Versioned, private bucket for artifacts and bundles, plus its access-log bucket.

    Public attributes: ``bucket``, ``logs_bucket``, ``artifacts_prefix``, ``bundles_prefix``.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        removal_policy: RemovalPolicy,
        noncurrent_version_days: int = 30,
        log_retention_days: int = 90,
    ) -> None:
        super().__init__(scope, id_)
        self.artifacts_prefix = ARTIFACTS_PREFIX
        self.bundles_prefix = BUNDLES_PREFIX

        # Log delivery (S3 server access logs, VPC flow logs) writes as the bucket owner.
        self.logs_bucket = _hardened_bucket(
            self,
            "AccessLogs",
            removal_policy=removal_policy,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-logs",
                    expiration=Duration.days(log_retention_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )
        acknowledge(
            self.logs_bucket,
            "AwsSolutions-S1",
            "This bucket is the server-access-log destination itself; logging it into "
            "itself would create a feedback loop, and CloudTrail covers its API calls.",
        )

        self.bucket = _hardened_bucket(
            self,
            "Bucket",
            removal_policy=removal_policy,
            versioned=True,
            access_logs=self.logs_bucket,
            access_logs_prefix="s3-access/model-store/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-noncurrent-versions",
                    noncurrent_version_expiration=Duration.days(noncurrent_version_days),
                    noncurrent_versions_to_retain=3,
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                ),
                # Artifacts are immutable and content-addressed: old versions stay readable
                # (a device may pin one) but drift to cheaper tiers once nothing reads them.
                s3.LifecycleRule(
                    id="tier-old-artifacts",
                    prefix=ARTIFACTS_PREFIX,
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INTELLIGENT_TIERING,
                            transition_after=Duration.days(30),
                        )
                    ],
                ),
            ],
        )

    def object_arn(self, prefix: str) -> str:
        """ARN matching every object under ``prefix`` (``artifacts/minilm/``)."""
        return self.bucket.arn_for_objects(f"{prefix}*")

    def object_finding(self, prefix: str) -> str:
        """The cdk-nag IAM5 finding id of :meth:`object_arn` (to acknowledge it)."""
        logical_id = Stack.of(self).get_logical_id(self.bucket.node.default_child)  # type: ignore[arg-type]
        return f"Resource::<{logical_id}.Arn>/{prefix}*"

    def read_statements(self, prefix: str) -> list[iam.PolicyStatement]:
        """Least-privilege read of one prefix: GetObject on it, ListBucket limited to it."""
        return [
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[self.object_arn(prefix)]),
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}},
            ),
        ]

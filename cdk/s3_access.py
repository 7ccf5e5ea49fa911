"""Least-privilege IAM statements for S3 URIs from ``precast.toml`` (``s3://bucket/prefix``).

A URI names an object (``s3://b/in/texts.jsonl``) or a prefix (``s3://b/out/``); either way
the grant covers keys starting with it, and ``ListBucket`` is limited to that prefix with the
``s3:prefix`` condition. No ``s3:*``, no ``s3:Get*``: only the calls a reader/writer makes.
"""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_iam as iam

from cdk.exceptions import CdkAppError


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key/prefix`` -> (``bucket``, ``key/prefix``)."""
    if not uri.startswith("s3://"):
        raise CdkAppError(f"{uri!r} is not an S3 URI; expected s3://bucket/key")
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket:
        raise CdkAppError(f"{uri!r} names no bucket; expected s3://bucket/key")
    return bucket, key


def _bucket_arn(bucket: str) -> str:
    return f"arn:{Aws.PARTITION}:s3:::{bucket}"


def _list_statement(bucket: str, key: str) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        actions=["s3:ListBucket"],
        resources=[_bucket_arn(bucket)],
        conditions={"StringLike": {"s3:prefix": [f"{key}*"]}},
    )


def s3_read_statements(uri: str) -> list[iam.PolicyStatement]:
    bucket, key = parse_s3_uri(uri)
    return [
        iam.PolicyStatement(actions=["s3:GetObject"], resources=[f"{_bucket_arn(bucket)}/{key}*"]),
        _list_statement(bucket, key),
    ]


def s3_write_statements(uri: str) -> list[iam.PolicyStatement]:
    """Read back (resume from checkpoints) and write objects under the prefix; no deletes."""
    bucket, key = parse_s3_uri(uri)
    return [
        iam.PolicyStatement(
            actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
            resources=[f"{_bucket_arn(bucket)}/{key}*"],
        ),
        _list_statement(bucket, key),
    ]


def s3_prefix_finding(uri: str) -> str:
    """The cdk-nag IAM5 finding id of the object grant for ``uri`` (to acknowledge it)."""
    bucket, key = parse_s3_uri(uri)
    return f"Resource::arn:<AWS::Partition>:s3:::{bucket}/{key}*"

"""PredictionCache: the DynamoDB table behind ``dynamodb:<table>`` cache URLs.

The key schema is the cache backend's contract (``edge/cache``):

==================  ====  ===================================================
``pk``              S     sha256 hex of (model version, normalized input)
``model_version``   S     the artifact version that produced the vector
``vector``          B     little-endian float32 bytes
``created_at``      N     epoch seconds
``expires_at``      N     epoch seconds; DynamoDB TTL deletes expired items
==================  ====  ===================================================

Only ``pk`` is declared (DynamoDB declares key attributes only). On-demand billing: batch
precompute writes in bursts and functions read at request rate, so provisioned capacity
would sit idle or throttle. Encrypted with the AWS-managed key; point-in-time recovery on.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

PARTITION_KEY = "pk"
TTL_ATTRIBUTE = "expires_at"
READ_ACTIONS = ("dynamodb:GetItem", "dynamodb:BatchGetItem")
WRITE_ACTIONS = ("dynamodb:PutItem", "dynamodb:BatchWriteItem")


class PredictionCache(Construct):
    """On-demand table with TTL and PITR. Public attributes: ``table``, ``cache_url``."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        removal_policy: RemovalPolicy,
        deletion_protection: bool,
    ) -> None:
        super().__init__(scope, id_)
        self.table = dynamodb.TableV2(
            self,
            "Table",
            partition_key=dynamodb.Attribute(
                name=PARTITION_KEY, type=dynamodb.AttributeType.STRING
            ),
            billing=dynamodb.Billing.on_demand(),
            time_to_live_attribute=TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryptionV2.aws_managed_key(),
            deletion_protection=deletion_protection,
            removal_policy=removal_policy,
        )
        self.cache_url = f"dynamodb:{self.table.table_name}"

    def read_statement(self) -> iam.PolicyStatement:
        return iam.PolicyStatement(actions=list(READ_ACTIONS), resources=[self.table.table_arn])

    def read_write_statement(self) -> iam.PolicyStatement:
        """Read plus item writes; never ``dynamodb:*``, never deletes or table changes."""
        return iam.PolicyStatement(
            actions=[*READ_ACTIONS, *WRITE_ACTIONS], resources=[self.table.table_arn]
        )

"""BatchFailureLog: every FAILED job of a queue is written to a log group by EventBridge.

The rule's ``TriggeredRules`` count is the dashboard's failure metric and the alarm's input;
the log group keeps the full job-state events (status reason, exit code, attempts).

``aws_events_targets.CloudWatchLogGroup`` would create the log group's resource policy
through an ``AwsCustomResource`` (a Lambda with ``Resource: *``); CloudFormation has a
native ``AWS::Logs::ResourcePolicy``, so we declare the policy ourselves and point the rule
at the log group with a minimal target.
"""

from __future__ import annotations

import jsii
from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk.interfaces.aws_events import IRuleRef
from constructs import Construct


@jsii.implements(events.IRuleTarget)
class _LogGroupTarget:
    """Rule target = a log group (its policy is declared by :class:`BatchFailureLog`)."""

    def __init__(self, arn: str) -> None:
        self._arn = arn

    def bind(self, rule: IRuleRef, id: str | None = None) -> events.RuleTargetConfig:  # jsii name
        return events.RuleTargetConfig(arn=self._arn)


class BatchFailureLog(Construct):
    """Rule for FAILED jobs of ``job_queue_arn`` -> log group. Attributes: ``rule``,
    ``log_group``."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        job_queue_arn: str,
        description: str,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id_)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, removal_policy=removal_policy
        )
        policy = logs.ResourcePolicy(
            self,
            "EventsCanWrite",
            policy_statements=[
                iam.PolicyStatement(
                    principals=[iam.ServicePrincipal("events.amazonaws.com")],
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[self.log_group.log_group_arn],
                )
            ],
        )
        target_arn = Stack.of(self).format_arn(
            service="logs",
            resource="log-group",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
            resource_name=self.log_group.log_group_name,
        )
        self.rule = events.Rule(
            self,
            "Rule",
            description=description,
            event_pattern=events.EventPattern(
                source=["aws.batch"],
                detail_type=["Batch Job State Change"],
                detail={"status": ["FAILED"], "jobQueue": [job_queue_arn]},
            ),
            targets=[_LogGroupTarget(target_arn)],
        )
        self.rule.node.add_dependency(policy)

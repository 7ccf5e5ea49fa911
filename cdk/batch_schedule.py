"""The EventBridge Scheduler schedule that submits a model's batch precompute job.

A *universal target* calls ``batch:SubmitJob`` directly (no Lambda in between), with a
scheduler role allowed to submit only this job definition to only this queue.
"""

from __future__ import annotations

from aws_cdk import aws_batch as batch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from constructs import Construct

from precast.project.config import ModelConfig


def submit_job_request(
    model: ModelConfig, *, job_queue_arn: str, job_definition_arn: str
) -> dict[str, object]:
    """The SubmitJob request body; ``ArrayProperties`` only for arrays (Batch needs >= 2)."""
    request: dict[str, object] = {
        "JobName": f"precast-{model.name}-scheduled",
        "JobQueue": job_queue_arn,
        "JobDefinition": job_definition_arn,
    }
    if model.batch.array_size > 1:
        request["ArrayProperties"] = {"Size": model.batch.array_size}
    return request


def submit_job_schedule(
    scope: Construct,
    id_: str,
    *,
    model: ModelConfig,
    job_queue: batch.IJobQueue,
    job_definition: batch.IJobDefinition,
) -> scheduler.Schedule:
    """``model.batch.schedule`` (``cron(...)``/``rate(...)``, UTC) -> SubmitJob."""
    request = submit_job_request(
        model,
        job_queue_arn=job_queue.job_queue_arn,
        job_definition_arn=job_definition.job_definition_arn,
    )
    return scheduler.Schedule(
        scope,
        id_,
        description=f"precast batch precompute for {model.name}",
        schedule=scheduler.ScheduleExpression.expression(model.batch.schedule),
        target=scheduler_targets.Universal(
            service="batch",
            action="submitJob",
            input=scheduler.ScheduleTargetInput.from_object(request),
            policy_statements=[
                iam.PolicyStatement(
                    actions=["batch:SubmitJob"],
                    resources=[job_queue.job_queue_arn, job_definition.job_definition_arn],
                )
            ],
            retry_attempts=3,
        ),
    )

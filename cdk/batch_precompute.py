"""BatchPrecompute: a spot AWS Batch array job that fills the prediction cache on a schedule.

Per model with a ``batch`` target: a Spot compute environment (Fargate Spot, or EC2 Spot with
``SPOT_PRICE_CAPACITY_OPTIMIZED`` so reclaims hit the pools least likely to be reclaimed), a
job queue, a job definition running ``python -m batch run --input ... --output ...`` from
the ``batch/Dockerfile`` image (the model's latest artifact baked in), and an EventBridge
Scheduler schedule that submits it.

Retries (``exit_codes.AWS_BATCH_ATTEMPTS`` attempts in all): a spot reclaim is not the job's
fault, so it is retried; the job checkpoints on SIGTERM (exit 143) and a retry resumes; a
transient storage failure (S3 or DynamoDB down, hung or throttled through botocore's
retries, exit 75) is retried too. Any other non-zero exit is a bug or bad input, so the
job exits at once instead of burning retries.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_batch as batch
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

import batch.exit_codes as exit_codes
from cdk.batch_failures import BatchFailureLog
from cdk.batch_network import PrecomputeNetwork
from cdk.batch_schedule import submit_job_schedule
from cdk.exceptions import BatchTargetError
from cdk.model_store import ModelStore
from cdk.nag import acknowledge
from cdk.prediction_cache import PredictionCache
from cdk.s3_access import s3_prefix_finding, s3_read_statements, s3_write_statements
from edge import environment as env
from precast.project.config import ModelConfig

METRICS_NAMESPACE = "precast"
# 128 + SIGTERM: the job flushed its checkpoint and exited
SPOT_RECLAIM_EXIT_CODE = str(exit_codes.INTERRUPTED)
# EX_TEMPFAIL: S3 or DynamoDB down/hung/throttled through the client's retries; resumes
CACHE_UNAVAILABLE_EXIT_CODE = str(exit_codes.TEMPFAIL)
JOB_TIMEOUT = Duration.hours(6)
RETRY_ATTEMPTS = exit_codes.AWS_BATCH_ATTEMPTS

MAX_EVALUATE_ON_EXIT = 5  # AWS Batch accepts at most five evaluateOnExit rules


def retry_strategies(fargate: bool) -> list[batch.RetryStrategy]:
    """Retry what spot capacity and transient outages cause; fail fast on our own errors.

    Rules are matched in order and AWS Batch takes at most five, so only the reclaim
    reason of the configured capacity (Fargate Spot or EC2 Spot) is listed."""
    reclaimed = (
        # Fargate Spot: the task was interrupted.
        batch.Reason.custom(on_status_reason="Your Spot Task was interrupted*")
        if fargate
        # EC2 Spot: the host was reclaimed ("Host EC2 (instance i-...) terminated.").
        else batch.Reason.SPOT_INSTANCE_RECLAIMED
    )
    rules = [
        batch.RetryStrategy.of(batch.Action.RETRY, reclaimed),
        # The job caught SIGTERM (the 2-minute reclaim notice), checkpointed, exited 143.
        batch.RetryStrategy.of(
            batch.Action.RETRY, batch.Reason.custom(on_exit_code=SPOT_RECLAIM_EXIT_CODE)
        ),
        # S3 or the cache stayed unavailable through the client's retries: resumes.
        batch.RetryStrategy.of(
            batch.Action.RETRY, batch.Reason.custom(on_exit_code=CACHE_UNAVAILABLE_EXIT_CODE)
        ),
        # ECR throttling or a registry hiccup: transient.
        batch.RetryStrategy.of(batch.Action.RETRY, batch.Reason.CANNOT_PULL_CONTAINER),
        # Any other exit code is ours (bug, bad input over the error budget): fail fast.
        batch.RetryStrategy.of(batch.Action.EXIT, batch.Reason.NON_ZERO_EXIT_CODE),
    ]
    assert len(rules) <= MAX_EVALUATE_ON_EXIT
    return rules


def batch_service_name(model_name: str) -> str:
    """``service`` dimension of the batch job's metrics (``Items`` in namespace precast)."""
    return f"precast-{model_name}-batch"


def check_batch_target(model: ModelConfig) -> None:
    """AWS Batch reads and writes S3: local paths in ``[batch]`` cannot work there."""
    for key, uri in (("input", model.batch.input), ("output", model.batch.output)):
        if not uri.startswith("s3://"):
            raise BatchTargetError(
                f"models.{model.name}.batch.{key} = {uri!r}: AWS Batch reads and writes "
                "S3. Use an s3://bucket/prefix URI, or remove 'batch' from targets."
            )


class BatchPrecompute(Construct):
    """Spot compute environment, queue, job definition and schedule for one model.

    Public attributes: ``compute_environment``, ``job_queue``, ``job_definition``,
    ``job_role``, ``schedule``, ``failure_rule``, ``service_name``, ``model``.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        model: ModelConfig,
        network: PrecomputeNetwork,
        image: ecs.ContainerImage,
        image_is_asset: bool,
        cache: PredictionCache,
        store: ModelStore,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id_)
        check_batch_target(model)
        self.model = model
        self.service_name = batch_service_name(model.name)
        fargate = model.batch.capacity == "fargate-spot"

        self.job_role = self._job_role(model, cache, store)
        self.compute_environment = self._compute_environment(network, fargate)
        self.job_queue = batch.JobQueue(
            self,
            "Queue",
            priority=1,
            compute_environments=[
                batch.OrderedComputeEnvironment(
                    compute_environment=self.compute_environment, order=1
                )
            ],
        )
        container = self._container(model, image, cache, fargate, log_retention, removal_policy)
        self.job_definition = batch.EcsJobDefinition(
            self,
            "Job",
            container=container,
            retry_attempts=RETRY_ATTEMPTS,
            retry_strategies=retry_strategies(fargate),
            timeout=JOB_TIMEOUT,
            propagate_tags=True,
        )
        self.schedule = submit_job_schedule(
            self,
            "Schedule",
            model=model,
            job_queue=self.job_queue,
            job_definition=self.job_definition,
        )
        self.failures = BatchFailureLog(
            self,
            "Failures",
            job_queue_arn=self.job_queue.job_queue_arn,
            description=f"precast {model.name}: batch precompute jobs that FAILED",
            log_retention=log_retention,
            removal_policy=removal_policy,
        )
        self.failure_rule = self.failures.rule
        self._acknowledge(model, store, container, fargate=fargate, image_is_asset=image_is_asset)

    def _container(
        self,
        model: ModelConfig,
        image: ecs.ContainerImage,
        cache: PredictionCache,
        fargate: bool,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> batch.EcsFargateContainerDefinition | batch.EcsEc2ContainerDefinition:
        """``run --input URI --output URI`` for the image's ``python -m batch`` entrypoint;
        the artifact is baked in at ``/opt/artifact``, the cache comes from the environment."""
        cfg = model.batch
        log_group = logs.LogGroup(
            self, "JobLogs", retention=log_retention, removal_policy=removal_policy
        )
        command = ["run", "--input", cfg.input]
        command += ["--output", cfg.output]
        environment = {
            env.PRECAST_MODEL.name: model.name,
            env.PRECAST_CACHE_URL.name: cache.cache_url,
            env.PRECAST_CACHE_TTL_S.name: env.ttl_seconds(model.serving.cache_ttl_days),
            "POWERTOOLS_SERVICE_NAME": self.service_name,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        }
        logging = ecs.LogDriver.aws_logs(stream_prefix=model.name, log_group=log_group)
        common: dict[str, Any] = {
            "image": image,
            "cpu": cfg.vcpus,
            "memory": Size.mebibytes(cfg.memory_mb),
            "command": command,
            "environment": environment,
            "job_role": self.job_role,
            "logging": logging,
        }
        if fargate:  # public subnets, no NAT: see batch_network.py
            return batch.EcsFargateContainerDefinition(
                self, "Container", assign_public_ip=True, **common
            )
        return batch.EcsEc2ContainerDefinition(self, "Container", **common)

    def _acknowledge(
        self,
        model: ModelConfig,
        store: ModelStore,
        container: Construct,
        *,
        fargate: bool,
        image_is_asset: bool,
    ) -> None:
        if image_is_asset:
            acknowledge(
                container,
                "AwsSolutions-IAM5[Resource::*]",
                "ecr:GetAuthorizationToken (added to the execution role to pull the image "
                "asset) supports no resource-level permissions; AWS requires Resource '*'.",
            )
        if not fargate:
            acknowledge(
                self.compute_environment,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role]",
                "The ECS agent on Batch-managed Spot instances needs exactly this AWS-"
                "maintained policy to register with the cluster; jobs use their own job role.",
            )
        cfg = model.batch
        acknowledge(
            self.job_role,
            f"AwsSolutions-IAM5[{s3_prefix_finding(cfg.input)}]",
            "Reads the configured input: the object itself or every key under the "
            "configured prefix (sharded JSONL/Parquet), nothing else in that bucket.",
        )
        acknowledge(
            self.job_role,
            f"AwsSolutions-IAM5[{s3_prefix_finding(cfg.output)}]",
            "Writes outputs and resume checkpoints whose keys are generated per shard, "
            "under the configured output prefix only; no delete permission.",
        )
        acknowledge(
            self.job_role,
            f"AwsSolutions-IAM5[{store.object_finding(store.artifacts_prefix + model.name + '/')}]",
            "Reads this model's artifact versions (content-addressed keys) from the model "
            "store, nothing outside artifacts/<model>/.",
        )
        acknowledge(
            self.job_role,
            "AwsSolutions-IAM5[Resource::*]",
            "cloudwatch:PutMetricData supports no resource-level permissions; the statement "
            "is limited by a cloudwatch:namespace = precast condition instead.",
        )

    def _job_role(self, model: ModelConfig, cache: PredictionCache, store: ModelStore) -> iam.Role:
        role = iam.Role(
            self,
            "JobRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description=f"precast batch {model.name}: read input, write output+cache",
        )
        statements = [
            cache.read_write_statement(),
            *s3_read_statements(model.batch.input),
            *s3_write_statements(model.batch.output),
            *store.read_statements(f"{store.artifacts_prefix}{model.name}/"),
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],  # PutMetricData has no resource-level permissions
                conditions={"StringEquals": {"cloudwatch:namespace": METRICS_NAMESPACE}},
            ),
        ]
        for statement in statements:
            role.add_to_policy(statement)
        return role

    def _compute_environment(
        self, network: PrecomputeNetwork, fargate: bool
    ) -> batch.FargateComputeEnvironment | batch.ManagedEc2EcsComputeEnvironment:
        cfg = self.model.batch
        max_vcpus = max(cfg.vcpus * cfg.array_size, cfg.vcpus)
        if fargate:
            return batch.FargateComputeEnvironment(
                self,
                "Compute",
                vpc=network.vpc,
                vpc_subnets=network.subnets,
                security_groups=[network.security_group],
                spot=True,
                maxv_cpus=max_vcpus,
            )
        return batch.ManagedEc2EcsComputeEnvironment(
            self,
            "Compute",
            vpc=network.vpc,
            vpc_subnets=network.subnets,
            security_groups=[network.security_group],
            spot=True,
            allocation_strategy=batch.AllocationStrategy.SPOT_PRICE_CAPACITY_OPTIMIZED,
            minv_cpus=0,
            maxv_cpus=max_vcpus,
        )

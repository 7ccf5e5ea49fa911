"""InferenceFunction: one Lambda per model, served through a Function URL on a ``live`` alias.

The code is the zip asset directory that ``precast package lambda MODEL --arch ARCH`` writes
to ``dist/lambda/<model>-<arch>/`` (handler ``functions.lambda_handler.handler``, the
artifact under ``artifact/``). Each deploy publishes a new version and CodeDeploy shifts the
``live`` alias to it (canary, linear or all at once, from ``precast.toml``); the alarms that
:class:`cdk.monitoring.Monitoring` wires into ``deployment_group`` roll it back.

SnapStart (``[lambda] snapstart``, on by default): Lambda runs the init phase (model load,
session, smoke check) once when a version is published and restores new environments from
its snapshot; the alias always points at a published version, which is what SnapStart
applies to. Its limits are checked here, before CloudFormation would fail the deploy:
no provisioned concurrency, ephemeral storage at most 512 MB, Python 3.12 or newer.
"""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk.exceptions import LambdaAssetMissingError, LambdaTargetError
from cdk.model_store import ModelStore
from cdk.nag import acknowledge
from cdk.prediction_cache import PredictionCache
from edge import environment as env
from edge.exceptions import ArtifactError
from edge.manifest import MANIFEST_NAME, parse_manifest
from precast.project.config import LambdaTarget, ModelConfig
from precast.project.lambda_asset import check_certified

HANDLER = "functions.lambda_handler.handler"
HANDLER_FILE = Path("functions") / "lambda_handler.py"
ARTIFACT_DIR_IN_ASSET = "artifact"
METRICS_NAMESPACE = "precast"
ALIAS_NAME = "live"

RUNTIMES = {"3.12": lambda_.Runtime.PYTHON_3_12, "3.13": lambda_.Runtime.PYTHON_3_13}
ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}
# SnapStart's limits (AWS Lambda developer guide, "Improving startup performance with
# Lambda SnapStart"): the runtimes it supports and the largest /tmp it snapshots.
SNAPSTART_PYTHONS = frozenset({"3.12", "3.13"})
SNAPSTART_MAX_EPHEMERAL_MB = 512
ROLLOUTS = {
    "canary-10pct-5min": codedeploy.LambdaDeploymentConfig.CANARY_10_PERCENT_5_MINUTES,
    "linear-10pct-1min": codedeploy.LambdaDeploymentConfig.LINEAR_10_PERCENT_EVERY_1_MINUTE,
    "all-at-once": codedeploy.LambdaDeploymentConfig.ALL_AT_ONCE,
}


def default_asset_dir(dist_dir: Path, model: ModelConfig) -> Path:
    return dist_dir / "lambda" / f"{model.name}-{model.lambda_.architecture}"


def resolve_asset_dir(
    dist_dir: Path, model: ModelConfig, override: Path | None
) -> tuple[Path, str | None]:
    """The asset directory to zip, checked now so synth fails with the command to run, and
    a warning if its artifact is not certified for the architecture but the config allows
    that. Raises :class:`UncertifiedArtifactError` if it does not."""
    asset_dir = override or default_asset_dir(dist_dir, model)
    arch = model.lambda_.architecture
    if not asset_dir.is_dir():
        raise LambdaAssetMissingError(model.name, arch, str(asset_dir), "does not exist")
    for required in (HANDLER_FILE, Path(ARTIFACT_DIR_IN_ASSET) / MANIFEST_NAME):
        if not (asset_dir / required).is_file():
            raise LambdaAssetMissingError(
                model.name, arch, str(asset_dir), f"has no {required.as_posix()}"
            )
    manifest_path = asset_dir / ARTIFACT_DIR_IN_ASSET / MANIFEST_NAME
    try:
        raw = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LambdaAssetMissingError(
            model.name, arch, str(asset_dir), f"has an unreadable {manifest_path.name} ({exc})"
        ) from None
    try:
        manifest = parse_manifest(raw, str(manifest_path))
    except ArtifactError as exc:
        raise LambdaAssetMissingError(
            model.name, arch, str(asset_dir), f"has an invalid {manifest_path.name} ({exc})"
        ) from None
    warning = check_certified(
        model.name, manifest, arch, allow_uncertified=model.lambda_.allow_uncertified
    )
    return asset_dir, warning


def check_snapstart(model_name: str, cfg: LambdaTarget) -> bool:
    """Whether SnapStart is on; raises :class:`LambdaTargetError` for a combination Lambda
    refuses, naming the keys to change."""
    if not cfg.snapstart:
        return False
    table = f"[models.{model_name}.lambda]"
    if cfg.python not in SNAPSTART_PYTHONS:
        raise LambdaTargetError(
            f"{table} snapstart = true needs Python {'|'.join(sorted(SNAPSTART_PYTHONS))}, "
            f"got python = {cfg.python!r}: change python or set snapstart = false"
        )
    if cfg.provisioned_concurrency > 0:
        raise LambdaTargetError(
            f"{table} snapstart = true cannot be combined with provisioned_concurrency = "
            f"{cfg.provisioned_concurrency} (Lambda refuses both on one version): set "
            "snapstart = false to keep warm environments, or provisioned_concurrency = 0"
        )
    if cfg.ephemeral_storage_mb > SNAPSTART_MAX_EPHEMERAL_MB:
        raise LambdaTargetError(
            f"{table} snapstart = true allows ephemeral_storage_mb <= "
            f"{SNAPSTART_MAX_EPHEMERAL_MB}, got {cfg.ephemeral_storage_mb}: lower it or set "
            "snapstart = false"
        )
    return True


def service_name(model_name: str) -> str:
    """POWERTOOLS_SERVICE_NAME of a model's function: the ``service`` metric dimension."""
    return f"precast-{model_name}"


class InferenceFunction(Construct):
    """Lambda + ``live`` alias + Function URL + CodeDeploy group for one model.

    Public attributes: ``function``, ``role``, ``alias``, ``url``, ``deployment_group``,
    ``log_group``, ``service_name``, ``model``, ``snapstart``.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        model: ModelConfig,
        asset_dir: Path,
        cache: PredictionCache,
        store: ModelStore,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id_)
        cfg = model.lambda_
        self.snapstart = snapstart = check_snapstart(model.name, cfg)
        self.model = model
        self.service_name = service_name(model.name)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, removal_policy=removal_policy
        )
        self.role = role = self._role(model, cache, store)

        self.function = lambda_.Function(
            self,
            "Function",
            description=f"precast inference for model {model.name}",
            code=lambda_.Code.from_asset(str(asset_dir)),
            handler=HANDLER,
            runtime=RUNTIMES[cfg.python],
            architecture=ARCHITECTURES[cfg.architecture],
            memory_size=cfg.memory_mb,
            timeout=Duration.seconds(cfg.timeout_s),
            role=role,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
            reserved_concurrent_executions=cfg.reserved_concurrency or None,
            ephemeral_storage_size=Size.mebibytes(cfg.ephemeral_storage_mb),
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if snapstart else None,
            environment={
                env.PRECAST_MODEL.name: model.name,
                env.PRECAST_ARTIFACT_DIR.name: ARTIFACT_DIR_IN_ASSET,
                env.PRECAST_CACHE_URL.name: cache.cache_url,
                env.PRECAST_WRITE_BACK.name: env.format_bool(model.serving.write_back),
                env.PRECAST_CACHE_TTL_S.name: env.ttl_seconds(model.serving.cache_ttl_days),
                "POWERTOOLS_SERVICE_NAME": self.service_name,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            },
        )
        self.log_group.grant_write(role)

        self.alias = lambda_.Alias(
            self,
            "Live",
            alias_name=ALIAS_NAME,
            version=self.function.current_version,
            provisioned_concurrent_executions=cfg.provisioned_concurrency or None,
        )
        auth = (
            lambda_.FunctionUrlAuthType.NONE
            if cfg.auth == "none"
            else lambda_.FunctionUrlAuthType.AWS_IAM
        )
        self.url = self.alias.add_function_url(auth_type=auth)

        self.deployment_group = codedeploy.LambdaDeploymentGroup(
            self,
            "Rollout",
            alias=self.alias,
            deployment_config=ROLLOUTS[cfg.rollout],
            auto_rollback=codedeploy.AutoRollbackConfig(
                failed_deployment=True, stopped_deployment=True, deployment_in_alarm=True
            ),
        )
        self._acknowledge(cfg.python, store)

    def _role(self, model: ModelConfig, cache: PredictionCache, store: ModelStore) -> iam.Role:
        """Own role instead of AWSLambdaBasicExecutionRole: logs only to this log group."""
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"precast {model.name} inference: read cache+artifacts, write cache",
        )
        cache_access = (
            cache.read_write_statement() if model.serving.write_back else cache.read_statement()
        )
        role.add_to_policy(cache_access)
        for statement in store.read_statements(f"{store.artifacts_prefix}{model.name}/"):
            role.add_to_policy(statement)
        return role

    def _acknowledge(self, python: str, store: ModelStore) -> None:
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            f"Runtime pinned to Python {python} by precast.toml [lambda].python: the asset "
            "builder fetches manylinux wheels for exactly that version, so the runtime must "
            "match the asset, not float to the newest.",
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords (added by Tracing.ACTIVE) support "
            "no resource-level permissions; AWS requires Resource '*'.",
        )
        acknowledge(
            self.role,
            f"AwsSolutions-IAM5[{store.object_finding(f'{store.artifacts_prefix}{self.model.name}/')}]",
            "Reads this model's artifact versions (content-addressed keys) from the model "
            "store, nothing outside artifacts/<model>/.",
        )
        acknowledge(
            self.deployment_group.role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited]",
            "The AWS-maintained CodeDeploy-for-Lambda policy is the documented minimum for "
            "shifting alias traffic and reading alarms; a hand copy would drift from it.",
        )

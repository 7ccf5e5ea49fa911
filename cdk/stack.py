"""PrecastStack: composes one construct per concern from ``precast.toml``.

Every model gets the constructs its ``targets`` ask for; shared pieces (model store,
prediction cache, batch network, dashboard) are created once. Permissions between the
pieces are granted here or through the constructs' ``*_statement(s)`` helpers, and outputs
have stable logical ids (``FunctionUrlMinilm``) so scripts can read them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aws_cdk import Annotations, CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk.batch_network import PrecomputeNetwork
from cdk.batch_precompute import BatchPrecompute, check_batch_target
from cdk.edge_distribution import EdgeDistribution
from cdk.exceptions import CdkAppError
from cdk.images import batch_artifact, container_image
from cdk.inference_function import InferenceFunction, resolve_asset_dir
from cdk.modal_deployment import ModalDeployment
from cdk.model_store import ModelStore
from cdk.monitoring import Monitoring
from cdk.prediction_cache import PredictionCache
from cdk.settings import DeploySettings
from precast.project.config import ModelConfig, ProjectConfig


def output_id(prefix: str, model: str) -> str:
    """``FunctionUrl`` + ``minilm-v2`` -> ``FunctionUrlMinilmV2`` (a valid logical id)."""
    words = re.split(r"[^A-Za-z0-9]+", model)
    return prefix + "".join(w[:1].upper() + w[1:] for w in words if w)


def _relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` (POSIX), as the deployer image sees the project."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        raise CdkAppError(
            f"{path} is outside the project {root}: the Modal deployer image only holds the "
            "project directory. Keep [project].artifacts_dir inside it."
        ) from None


class PrecastStack(Stack):
    """Everything precast deploys for one environment (``dev`` or ``prod``).

    Public attributes: ``store``, ``cache``, ``functions``, ``modal``, ``batches``,
    ``edge``, ``monitoring`` (dicts keyed by model name where per model).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: ProjectConfig,
        settings: DeploySettings,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        prod = settings.is_prod
        removal = RemovalPolicy.RETAIN if prod else RemovalPolicy.DESTROY
        retention = logs.RetentionDays.THREE_MONTHS if prod else logs.RetentionDays.ONE_WEEK

        self.store = ModelStore(
            self,
            "ModelStore",
            removal_policy=removal,
            noncurrent_version_days=90 if prod else 7,
            log_retention_days=365 if prod else 30,
        )
        self.cache = PredictionCache(
            self, "PredictionCache", removal_policy=removal, deletion_protection=prod
        )
        self._out("ModelStoreBucket", self.store.bucket.bucket_name, "artifacts/ and bundles/")
        self._out("PredictionCacheTable", self.cache.table.table_name, "cache: dynamodb:<this>")

        self.functions: dict[str, InferenceFunction] = {}
        self.modal: dict[str, ModalDeployment] = {}
        self.batches: dict[str, BatchPrecompute] = {}
        self._network: PrecomputeNetwork | None = None
        for model in config.models.values():
            if "lambda" in model.targets:
                self._add_function(model, config, settings, retention, removal)
            if "modal" in model.targets:
                self._add_modal(model, config, settings, retention, removal)
            if "batch" in model.targets:
                self._add_batch(model, config, settings, retention, removal)
        self.edge: EdgeDistribution | None = None
        if any("edge" in m.targets for m in config.models.values()):
            self._add_edge(config, settings)

        self.monitoring = Monitoring(
            self,
            "Monitoring",
            dashboard_name=f"precast-{settings.env}",
            functions=list(self.functions.values()),
            batches=list(self.batches.values()),
        )
        self._out("DashboardName", self.monitoring.dashboard.dashboard_name, "CloudWatch")

    def _add_function(
        self,
        model: ModelConfig,
        config: ProjectConfig,
        settings: DeploySettings,
        retention: logs.RetentionDays,
        removal: RemovalPolicy,
    ) -> None:
        name = model.name
        asset_dir, uncertified = resolve_asset_dir(config.dist_dir, model, settings.asset_dir)
        fn = InferenceFunction(
            self,
            f"Inference-{name}",
            model=model,
            asset_dir=asset_dir,
            cache=self.cache,
            store=self.store,
            log_retention=retention,
            removal_policy=removal,
        )
        if uncertified:  # allowed by the config: said at synth, like cdk-nag's findings
            Annotations.of(fn.function).add_warning(uncertified)
        self.functions[name] = fn
        self._out(output_id("FunctionUrl", name), fn.url.url, f"{name}: Function URL")

    def _add_modal(
        self,
        model: ModelConfig,
        config: ProjectConfig,
        settings: DeploySettings,
        retention: logs.RetentionDays,
        removal: RemovalPolicy,
    ) -> None:
        name = model.name
        md = ModalDeployment(
            self,
            f"Modal-{name}",
            model=model,
            project_root=config.root,
            keys_dir=config.keys_dir,
            artifacts_dir=_relative(config.artifacts_dir, config.root),
            redeploy=settings.modal_redeploy,
            log_retention=retention,
            removal_policy=removal,
        )
        self.modal[name] = md
        self._out(output_id("ModalAppUrl", name), md.url, f"{name}: Modal app URL")
        self._out(
            output_id("ModalTokenSecret", name),
            md.token_secret.secret_name,
            f"{name}: put your Modal token here (docs/deploy.md)",
        )

    def _add_batch(
        self,
        model: ModelConfig,
        config: ProjectConfig,
        settings: DeploySettings,
        retention: logs.RetentionDays,
        removal: RemovalPolicy,
    ) -> None:
        name = model.name
        check_batch_target(model)  # before staging an image context for nothing
        if self._network is None:  # one VPC for every batch model
            self._network = PrecomputeNetwork(
                self,
                "PrecomputeNetwork",
                availability_zones=settings.availability_zones,
                flow_logs_bucket=self.store.logs_bucket,
            )
        # One image per model: batch/Dockerfile bakes the model's latest artifact in.
        image = container_image(
            self,
            output_id("BatchImage", name),
            project_root=config.root,
            registry_image=settings.container_image,
            keys_dir=config.keys_dir,
            artifact=None if settings.container_image else batch_artifact(config, name),
        )
        job = BatchPrecompute(
            self,
            f"Batch-{name}",
            model=model,
            network=self._network,
            image=image,
            image_is_asset=settings.container_image is None,
            cache=self.cache,
            store=self.store,
            log_retention=retention,
            removal_policy=removal,
        )
        self.batches[name] = job
        self._out(output_id("BatchJobQueue", name), job.job_queue.job_queue_name, "")
        self._out(output_id("BatchJobDefinition", name), job.job_definition.job_definition_name, "")

    def _add_edge(self, config: ProjectConfig, settings: DeploySettings) -> None:
        self.edge = EdgeDistribution(
            self,
            "EdgeDistribution",
            store=self.store,
            keys_dir=config.keys_dir,
            role_alias_name=f"precast-edge-{settings.env}",
        )
        self._out("EdgeBundlesUri", self.edge.bundles_uri, "devices read bundles here")
        self._out("EdgeSigningPublicKey", self.edge.public_key, "pin this on devices")
        self._out("EdgeDeviceRoleArn", self.edge.device_role.role_arn, "IoT credentials")
        self._out("EdgeRoleAlias", self.edge.role_alias.role_alias or "", "IoT role alias")
        self._out("EdgeReadPolicyArn", self.edge.read_policy.managed_policy_arn, "")

    def _out(self, id_: str, value: str, description: str) -> None:
        CfnOutput(self, id_, value=value, description=description or None)

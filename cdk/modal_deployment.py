"""ModalDeployment: deploy ``functions/modal_app.py`` to Modal from CloudFormation.

* The Modal token lives in a Secrets Manager secret that the stack creates with a
  placeholder and *you* fill in (``aws secretsmanager put-secret-value``); no token value
  is ever in the template or the CDK context.
* A ``Custom::ModalApp`` resource, backed by ``custom_resources.Provider`` and a container
  Lambda (``cdk/modal_deployer/``: modal CLI + the project sources), runs
  ``modal deploy`` on Create/Update and ``modal app stop`` on Delete. Its ``Url`` attribute
  is the app's ``*.modal.run`` URL, exported as a stack output.
"""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import custom_resources as cr
from constructs import Construct

from cdk.exceptions import CdkAppError
from cdk.images import repo_image_asset
from cdk.modal_deployer.index import PLACEHOLDER_TOKEN_ID
from cdk.nag import acknowledge
from edge import environment as env
from precast.project.config import ModelConfig

DEPLOYER_DOCKERFILE = "cdk/modal_deployer/Dockerfile"


class ModalDeployment(Construct):
    """Token secret + deployer Lambda + ``Custom::ModalApp`` for one model.

    Public attributes: ``token_secret``, ``deployer``, ``app``, ``url`` (token string),
    ``app_name``.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        model: ModelConfig,
        project_root: Path,
        keys_dir: Path,
        artifacts_dir: str,
        redeploy: str,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, id_)
        self.app_name = model.modal.app_name
        self.token_secret = secretsmanager.Secret(
            self,
            "Token",
            description=(
                f"Modal token for app {self.app_name}. Fill in with "
                '{"token_id": "ak-...", "token_secret": "as-..."} (see docs/deploy.md).'
            ),
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({"token_id": PLACEHOLDER_TOKEN_ID}),
                generate_string_key="token_secret",
                exclude_punctuation=True,
            ),
            removal_policy=removal_policy,
        )
        acknowledge(
            self.token_secret,
            "AwsSolutions-SMG4",
            "Modal issues and revokes this token in its own dashboard; AWS cannot rotate "
            "it, so rotate it in Modal and put-secret-value the new one (docs/deploy.md).",
        )

        if not (project_root / DEPLOYER_DOCKERFILE).is_file():
            raise CdkAppError(
                f"{project_root / DEPLOYER_DOCKERFILE} not found: the Modal deployer image is "
                "built from the precast checkout holding precast.toml. Run cdk from the repo "
                "root, or remove 'modal' from the model's targets."
            )
        image = repo_image_asset(
            self,
            "DeployerImage",
            project_root=project_root,
            dockerfile=DEPLOYER_DOCKERFILE,
            keys_dir=keys_dir,
        )
        deployer_logs = logs.LogGroup(
            self, "DeployerLogs", retention=log_retention, removal_policy=removal_policy
        )
        role = iam.Role(
            self,
            "DeployerRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Runs modal deploy/stop for {self.app_name}: reads the token only",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["secretsmanager:GetSecretValue"],
                resources=[self.token_secret.secret_arn],
            )
        )
        deployer_logs.grant_write(role)
        self.deployer = lambda_.DockerImageFunction(
            self,
            "Deployer",
            description=f"modal deploy / modal app stop for {self.app_name}",
            code=lambda_.DockerImageCode.from_ecr(image.repository, tag_or_digest=image.image_tag),
            architecture=lambda_.Architecture.X86_64,
            memory_size=1024,
            timeout=Duration.minutes(14),
            role=role,
            log_group=deployer_logs,
        )

        provider_logs = logs.LogGroup(
            self, "ProviderLogs", retention=log_retention, removal_policy=removal_policy
        )
        provider = cr.Provider(
            self, "Provider", on_event_handler=self.deployer, log_group=provider_logs
        )
        self.app = CustomResource(
            self,
            "App",
            service_token=provider.service_token,
            resource_type="Custom::ModalApp",
            properties={
                "AppName": self.app_name,
                "Model": model.name,
                "Gpu": model.modal.gpu,
                "MaxBatchSize": str(model.modal.max_batch_size),
                "BatchWaitMs": str(model.modal.batch_wait_ms),
                "MemorySnapshot": env.format_bool(model.modal.memory_snapshot),
                "Auth": model.modal.auth,
                "ArtifactsDir": artifacts_dir,
                "SecretArn": self.token_secret.secret_arn,
                "SourceHash": image.asset_hash,
                "Redeploy": redeploy,
            },
        )
        self.url = self.app.get_att_string("Url")
        self._acknowledge_provider(provider)

    def _acknowledge_provider(self, provider: cr.Provider) -> None:
        deployer_id = Stack.of(self).get_logical_id(self.deployer.node.default_child)  # type: ignore[arg-type]
        acknowledge(
            provider,
            f"AwsSolutions-IAM5[Resource::<{deployer_id}.Arn>:*]",
            "The CDK provider framework invokes the deployer function by any version or "
            "alias (ARN suffix :*); the grant names this one function only.",
        )
        acknowledge(
            provider,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "The CDK-owned provider framework function only writes its own CloudWatch logs; "
            "AWSLambdaBasicExecutionRole is the role custom_resources.Provider creates.",
        )

"""The real app (repo precast.toml, env=dev) synthesizes offline with the promised resources.

GIVEN the repo's precast.toml and a stub Lambda asset, WHEN the app is synthesized with no
AWS credentials, THEN the template holds each construct with the properties the config and
the security choices call for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template
from cdk_support import REPO, Synthesized

from precast.project.config import ModelConfig, load_config

pytestmark = pytest.mark.slow  # one shared ~10 s synth for the whole session


@pytest.fixture(scope="module")
def template(real_app: Synthesized) -> Template:
    return Template.from_json(real_app.template)


@pytest.fixture(scope="module")
def minilm() -> ModelConfig:
    return load_config(REPO / "precast.toml").model("minilm")


def test_synth_needs_no_credentials_and_passes_validation(real_app: Synthesized) -> None:
    assert real_app.error is None, real_app.error
    assert real_app.stack.account == "123456789012"
    assert real_app.stack.stack_name == "Precast-dev"


def test_model_store_is_private_versioned_encrypted_and_logged(template: Template) -> None:
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "LoggingConfiguration": {"DestinationBucketName": Match.any_value()},
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [Match.object_like({"NoncurrentVersionExpiration": Match.any_value()})]
                )
            },
        },
    )


def test_every_bucket_denies_plain_http(real_app: Synthesized) -> None:
    policies = real_app.resources("AWS::S3::BucketPolicy")
    assert len(policies) == len(real_app.resources("AWS::S3::Bucket")) == 2
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny"
            and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
            for s in statements
        )


def test_prediction_cache_matches_the_cache_backend_schema(template: Template) -> None:
    template.has_resource_properties(
        "AWS::DynamoDB::GlobalTable",
        {
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            "SSESpecification": {"SSEEnabled": True},
            "Replicas": [
                Match.object_like(
                    {"PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}}
                )
            ],
        },
    )


def test_inference_function_follows_precast_toml(
    real_app: Synthesized, template: Template, minilm: ModelConfig
) -> None:
    cfg = minilm.lambda_
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "functions.lambda_handler.handler",
            "Runtime": f"python{cfg.python}",
            "Architectures": [cfg.architecture],
            "MemorySize": cfg.memory_mb,
            "Timeout": cfg.timeout_s,
            "TracingConfig": {"Mode": "Active"},
            "Environment": {
                "Variables": {
                    "PRECAST_ARTIFACT_DIR": "artifact",
                    "PRECAST_CACHE_URL": {"Fn::Join": ["", ["dynamodb:", Match.any_value()]]},
                    "PRECAST_WRITE_BACK": "true" if minilm.serving.write_back else "false",
                    "PRECAST_CACHE_TTL_S": str(minilm.serving.cache_ttl_days * 86400),
                    "POWERTOOLS_SERVICE_NAME": "precast-minilm",
                    "POWERTOOLS_METRICS_NAMESPACE": "precast",
                    "PRECAST_MODEL": "minilm",
                }
            },
        },
    )


def test_function_url_is_on_the_live_alias_with_iam_auth(
    template: Template, minilm: ModelConfig
) -> None:
    template.has_resource_properties("AWS::Lambda::Alias", {"Name": "live"})
    expected = "AWS_IAM" if minilm.lambda_.auth == "iam" else "NONE"
    template.has_resource_properties(
        "AWS::Lambda::Url", {"AuthType": expected, "Qualifier": "live"}
    )


def test_rollout_is_codedeploy_with_alarms_and_automatic_rollback(
    real_app: Synthesized, template: Template
) -> None:
    group = real_app.one("AWS::CodeDeploy::DeploymentGroup")
    assert group["DeploymentConfigName"] == "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    assert group["AutoRollbackConfiguration"]["Enabled"] is True
    assert "DEPLOYMENT_STOP_ON_ALARM" in group["AutoRollbackConfiguration"]["Events"]
    alarm_ids = {a["Name"]["Ref"] for a in group["AlarmConfiguration"]["Alarms"]}
    alarms = real_app.resources("AWS::CloudWatch::Alarm")
    metrics = {alarms[i]["Properties"]["MetricName"] for i in alarm_ids}
    assert metrics == {"Errors", "Duration"}
    assert {alarms[i]["Properties"].get("ExtendedStatistic") for i in alarm_ids} >= {"p99"}
    # The alias shifts through CodeDeploy, not by CloudFormation updating it in place.
    alias = next(iter(real_app.resources("AWS::Lambda::Alias").values()))
    assert "CodeDeployLambdaAliasUpdate" in alias["UpdatePolicy"]


def test_batch_runs_on_spot_with_retries_only_for_reclaims(
    real_app: Synthesized, minilm: ModelConfig
) -> None:
    env = real_app.one("AWS::Batch::ComputeEnvironment")
    spot_type = "FARGATE_SPOT" if minilm.batch.capacity == "fargate-spot" else "SPOT"
    assert env["ComputeResources"]["Type"] == spot_type
    job = real_app.one("AWS::Batch::JobDefinition")
    retry = job["RetryStrategy"]
    assert retry["Attempts"] >= 2
    rules = [(r["Action"], r) for r in retry["EvaluateOnExit"]]
    assert len(rules) <= 5  # the AWS Batch limit on evaluateOnExit rules
    reclaim = "Your Spot Task was interrupted*" if spot_type == "FARGATE_SPOT" else "Host EC2*"
    assert rules[0] == ("RETRY", {"Action": "RETRY", "OnStatusReason": reclaim})
    assert ("RETRY", {"Action": "RETRY", "OnExitCode": "143"}) in rules  # SIGTERM checkpoint
    assert ("RETRY", {"Action": "RETRY", "OnExitCode": "75"}) in rules  # cache unavailable
    assert rules[-1] == ("EXIT", {"Action": "EXIT", "OnExitCode": "*"})  # code errors
    command = job["ContainerProperties"]["Command"]
    # batch/Dockerfile's ENTRYPOINT is `python -m batch`: the command is its arguments.
    assert command[0] == "run" and "precast" not in command
    assert command[command.index("--input") + 1] == minilm.batch.input
    assert command[command.index("--output") + 1] == minilm.batch.output


def test_batch_vpc_has_no_nat_and_gateway_endpoints(real_app: Synthesized) -> None:
    assert real_app.resources("AWS::EC2::NatGateway") == {}
    endpoints = real_app.resources("AWS::EC2::VPCEndpoint").values()
    services = {str(e["Properties"]["ServiceName"]) for e in endpoints}
    assert any("s3" in s for s in services) and any("dynamodb" in s for s in services)
    assert all(e["Properties"].get("VpcEndpointType", "Gateway") == "Gateway" for e in endpoints)
    sg = real_app.one("AWS::EC2::SecurityGroup")
    assert "SecurityGroupIngress" not in sg
    assert [r["FromPort"] for r in sg["SecurityGroupEgress"]] == [443]
    assert real_app.resources("AWS::EC2::FlowLog")


def test_scheduler_submits_the_array_job(real_app: Synthesized, minilm: ModelConfig) -> None:
    schedule = real_app.one("AWS::Scheduler::Schedule")
    assert schedule["ScheduleExpression"] == minilm.batch.schedule
    assert schedule["State"] == "ENABLED"
    target = schedule["Target"]
    assert target["Arn"]["Fn::Join"][1][-1] == ":scheduler:::aws-sdk:batch:submitJob"
    rendered = "".join(
        p if isinstance(p, str) else "<token>" for p in target["Input"]["Fn::Join"][1]
    )
    assert f'"ArrayProperties":{{"Size":{minilm.batch.array_size}}}' in rendered


def test_modal_deployment_is_a_custom_resource_with_the_token_in_a_secret(
    real_app: Synthesized, minilm: ModelConfig
) -> None:
    app = next(iter(real_app.resources("Custom::ModalApp").values()))["Properties"]
    assert app["AppName"] == minilm.modal.app_name
    assert app["MemorySnapshot"] == ("true" if minilm.modal.memory_snapshot else "false")
    assert app["Auth"] == minilm.modal.auth == "proxy"  # Modal proxy auth unless configured off
    assert "SecretArn" in app and "SourceHash" in app
    secret = real_app.one("AWS::SecretsManager::Secret")
    assert "SecretString" not in secret  # generated placeholder, never a value in the template
    assert secret["GenerateSecretString"]["GenerateStringKey"] == "token_secret"


def test_edge_devices_get_read_only_access_to_bundles(real_app: Synthesized) -> None:
    policy = real_app.one("AWS::IAM::ManagedPolicy")
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == "s3:GetObject"
    assert statement["Resource"]["Fn::Join"][1][-1] == "/bundles/*"
    alias = real_app.one("AWS::IoT::RoleAlias")
    assert alias["RoleAlias"] == "precast-edge-dev"


def test_dashboard_shows_latency_errors_cold_starts_cache_and_batch(
    real_app: Synthesized,
) -> None:
    body = real_app.one("AWS::CloudWatch::Dashboard")["DashboardBody"]
    text = "".join(p if isinstance(p, str) else "" for p in body["Fn::Join"][1])
    for needle in (
        "p50",
        "p99",
        "Errors",
        "Throttles",
        "ColdStart",
        "CacheHits",
        "CacheMisses",
        "Items",
        "TriggeredRules",
        "hits + misses",
    ):
        assert needle in text, needle


def test_outputs_name_what_a_user_needs(real_app: Synthesized) -> None:
    outputs: dict[str, Any] = real_app.template["Outputs"]
    for name in (
        "ModelStoreBucket",
        "PredictionCacheTable",
        "FunctionUrlMinilm",
        "ModalAppUrlMinilm",
        "ModalTokenSecretMinilm",
        "BatchJobQueueMinilm",
        "BatchJobDefinitionMinilm",
        "EdgeSigningPublicKey",
        "EdgeBundlesUri",
        "DashboardName",
    ):
        assert name in outputs, name
    key = outputs["EdgeSigningPublicKey"]["Value"]
    keys_dir = load_config(REPO / "precast.toml").keys_dir
    if (Path(keys_dir) / "targets.pub").is_file():
        assert "precast keys" not in key
    else:
        assert "run `precast keys`" in key


def test_synth_needs_no_context_lookups(real_app: Synthesized) -> None:
    """A lookup (e.g. availability zones) would make `cdk synth` ask for AWS credentials."""
    import json

    manifest = json.loads((real_app.outdir / "manifest.json").read_text(encoding="utf-8"))
    assert "missing" not in manifest, manifest.get("missing")


@pytest.mark.parametrize("code", [1, 2, 3, 75, 130, 143])
def test_batch_retry_rules_retry_exactly_the_transient_exit_codes(
    real_app: Synthesized, code: int
) -> None:
    """GIVEN the synthesized job definition's RetryStrategy WHEN AWS Batch's rule evaluation
    (first matching rule wins) is applied to each exit code of the job THEN 75 (S3/DynamoDB
    down, hung or throttled through the client's retries) and 143 (SIGTERM checkpoint) are
    retried, every other code exits, and the attempts are exit_codes.AWS_BATCH_ATTEMPTS
    (the bound the fault-injection suite runs within)."""
    import batch.exit_codes as exit_codes
    from tests.batch.aws_batch import decide

    retry = real_app.one("AWS::Batch::JobDefinition")["RetryStrategy"]
    assert retry["Attempts"] == exit_codes.AWS_BATCH_ATTEMPTS
    expected = "RETRY" if code in exit_codes.RETRIED_BY_AWS_BATCH else "EXIT"
    assert decide(retry["EvaluateOnExit"], code) == expected
    # a reclaimed Fargate Spot task (killed, no exit code of ours) is retried as well
    reclaimed = decide(
        retry["EvaluateOnExit"], 137, status_reason="Your Spot Task was interrupted."
    )
    host = decide(retry["EvaluateOnExit"], 137, status_reason="Host EC2 (instance i-1) terminated.")
    assert "RETRY" in (reclaimed, host)

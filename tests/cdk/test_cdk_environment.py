"""The environment contract between cdk/ and the runtimes, checked on the synthesized app.

GIVEN the variables the real template sets for the Lambda function, the batch job and the
Modal deploy, WHEN each runtime resolves its settings from exactly that environment
(recording every variable it looks up), THEN it reads every ``PRECAST_*`` variable it was
given, each is declared in ``edge/environment.py`` for that host, and the values mean
what precast.toml said.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cdk_support import REPO, Synthesized

from batch.arguments import add_run_arguments, settings_from_args
from cdk.modal_deployer import index as deployer
from edge.environment import BY_NAME
from functions.modal_settings import CONTAINER_ARTIFACT_DIR, DeploySettings
from functions.settings import resolve_settings
from precast.project.config import ModelConfig, load_config


class RecordingEnv(Mapping[str, str]):
    """An environment that remembers which variables were looked up."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)
        self.looked_up: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.looked_up.add(key)
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        self.looked_up.add(key)
        return self.values.get(key, default)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.looked_up.add(key)
        return key in self.values

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


def resolve(value: Any) -> str:
    """A CloudFormation value as the runtime would see it (``Ref`` -> a placeholder name)."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return str(sep).join(resolve(p) for p in parts)
    if "Ref" in value:
        return f"ref-{value['Ref']}"
    if "Fn::GetAtt" in value:
        return "att-" + "-".join(value["Fn::GetAtt"])
    raise AssertionError(f"unexpected CloudFormation value {value!r}")


def precast_vars(env: Mapping[str, str]) -> set[str]:
    return {k for k in env if k.startswith("PRECAST_")}


def assert_all_read(env: RecordingEnv, host: str) -> None:
    given = precast_vars(env.values)
    assert given, "the template sets no PRECAST_* variable"
    assert given <= set(BY_NAME), given - set(BY_NAME)
    for name in given:
        assert host in BY_NAME[name].readers, f"{name} is not declared as read by {host}"
    assert given <= env.looked_up, f"set for {host} but never read: {given - env.looked_up}"


@pytest.fixture(scope="module")
def minilm() -> ModelConfig:
    return load_config(REPO / "precast.toml").model("minilm")


@pytest.fixture(scope="module")
def lambda_env(real_app: Synthesized) -> dict[str, str]:
    (fn,) = [
        r["Properties"]
        for r in real_app.resources("AWS::Lambda::Function").values()
        if r["Properties"].get("Handler") == "functions.lambda_handler.handler"
    ]
    return {k: resolve(v) for k, v in fn["Environment"]["Variables"].items()}


def test_every_variable_cdk_sets_on_the_lambda_is_read_by_the_function_host(
    lambda_env: dict[str, str], minilm: ModelConfig
) -> None:
    env = RecordingEnv(lambda_env)
    settings = resolve_settings(environ=env)
    assert_all_read(env, "lambda")
    assert settings.model == minilm.name
    assert settings.write_back is minilm.serving.write_back
    assert settings.cache_ttl_s == minilm.serving.cache_ttl_days * 86_400
    assert settings.cache_url is not None and settings.cache_url.startswith("dynamodb:")


def test_every_variable_cdk_sets_on_the_batch_job_is_read_by_the_job(
    real_app: Synthesized, minilm: ModelConfig
) -> None:
    container = real_app.one("AWS::Batch::JobDefinition")["ContainerProperties"]
    env = RecordingEnv({e["Name"]: resolve(e["Value"]) for e in container["Environment"]})
    command = container["Command"]
    assert command[0] == "run"
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    settings = settings_from_args(parser.parse_args(command[1:]), env=env)
    assert_all_read(env, "batch")
    assert settings.model == minilm.name
    assert settings.ttl_s == minilm.serving.cache_ttl_days * 86_400
    assert settings.cache_url is not None and settings.cache_url.startswith("dynamodb:")


def test_every_variable_the_modal_deployer_sets_is_read_by_modal_deploy(
    real_app: Synthesized, minilm: ModelConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    props = {k: resolve(v) for k, v in real_app.one("Custom::ModalApp").items()}
    (tmp_path / "artifacts" / minilm.name / "v1").mkdir(parents=True)
    (tmp_path / "artifacts" / minilm.name / "latest").write_text("v1\n")
    monkeypatch.setattr(deployer, "project_dir", lambda: tmp_path)
    calls: list[Mapping[str, str]] = []

    def runner(cmd: list[str], env: Mapping[str, str]) -> Any:
        calls.append(env)
        raise SystemExit  # stop before parsing modal's output: the env is what we test

    with pytest.raises(SystemExit):
        deployer.deploy(props["AppName"], {"token_id": "t", "token_secret": "s"}, props, runner)
    ours = {k: v for k, v in calls[0].items() if k.startswith("PRECAST_")}
    env = RecordingEnv(ours)
    deploy = DeploySettings.from_env(env)
    assert_all_read(env, "modal-deploy")
    assert deploy.app_name == minilm.modal.app_name and deploy.gpu == minilm.modal.gpu
    assert deploy.max_batch_size == minilm.modal.max_batch_size
    assert deploy.batch_wait_ms == minilm.modal.batch_wait_ms
    # the container re-imports modal_app (deploy settings) and builds the app: all is read
    container = RecordingEnv(deploy.container_env())
    seen = DeploySettings.from_env(container)
    assert seen == dataclasses.replace(deploy, artifact_dir=Path(CONTAINER_ARTIFACT_DIR))
    assert resolve_settings(environ=container).model == minilm.name
    assert_all_read(container, "modal")

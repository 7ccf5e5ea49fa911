"""Custom resource handler: deploy (Create/Update) or stop (Delete) a Modal app.

Runs as the ``onEvent`` function of a ``custom_resources.Provider``; the provider framework
sends the CloudFormation response, so this returns ``PhysicalResourceId`` and ``Data`` or
raises. The Modal token comes from Secrets Manager at run time, never from the template:
the secret holds ``{"token_id": "...", "token_secret": "..."}``. Until the user fills it in,
Create/Update succeed without deploying and ``Url`` says what to do, so the first
``cdk deploy`` does not roll back the whole stack.

Properties: ``AppName``, ``Model``, ``Gpu``, ``MaxBatchSize``, ``BatchWaitMs``,
``MemorySnapshot`` (``true``/``false``), ``Auth`` (``proxy``/``none``), ``ArtifactsDir``
(relative to the project),
``SecretArn``, ``SourceHash`` (image asset hash: a code change redeploys), ``Redeploy`` (any
new value redeploys). ``functions/modal_app.py``
reads them as ``PRECAST_MODAL_APP``, ``PRECAST_MODAL_GPU``, ``PRECAST_MAX_BATCH_SIZE``,
``PRECAST_BATCH_WAIT_MS``, ``PRECAST_MODAL_MEMORY_SNAPSHOT``, ``PRECAST_MODAL_AUTH`` and
``PRECAST_ARTIFACT_DIR``
(the model's ``latest`` version).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

PLACEHOLDER_TOKEN_ID = "REPLACE_ME"
MODAL_APP_FILE = "functions/modal_app.py"
DEPLOY_TIMEOUT_S = 13 * 60  # under the 14-minute function timeout, so we can report
URL_PATTERN = re.compile(r"https://[A-Za-z0-9.-]+\.modal\.run[^\s'\"]*")

Runner = Callable[[list[str], Mapping[str, str]], "subprocess.CompletedProcess[str]"]
TokenReader = Callable[[str], "dict[str, str] | None"]


class ModalDeployError(RuntimeError):
    """``modal deploy`` failed; the message carries the tail of its output."""


def read_token(secret_arn: str) -> dict[str, str] | None:
    """The Modal token from Secrets Manager, or None while it still holds the placeholder."""
    import boto3  # in the Lambda base image; imported here so tests need no AWS

    raw = boto3.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]
    token = json.loads(raw)
    token_id, token_secret = token.get("token_id", ""), token.get("token_secret", "")
    if not token_id or token_id == PLACEHOLDER_TOKEN_ID or not token_secret:
        return None
    return {"token_id": str(token_id), "token_secret": str(token_secret)}


def project_dir() -> Path:
    """Where the Dockerfile copied the project (``functions/``, ``edge/``, ``artifacts/``)."""
    return Path(os.environ.get("PRECAST_PROJECT_DIR", "."))


def run(cmd: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # fixed argv, no shell
        cmd,
        env=dict(env),
        cwd=project_dir(),
        capture_output=True,
        text=True,
        timeout=DEPLOY_TIMEOUT_S,
        check=False,
    )


def artifact_dir(project_dir: Path, props: Mapping[str, Any]) -> Path:
    """``<artifacts>/<model>/latest`` -> that version's directory (relative to the project)."""
    model_dir = Path(str(props.get("ArtifactsDir", "artifacts"))) / str(props["Model"])
    latest = project_dir / model_dir / "latest"
    if latest.is_file():
        return model_dir / latest.read_text(encoding="utf-8").strip()
    if (project_dir / model_dir / "manifest.json").is_file():
        return model_dir
    raise ModalDeployError(
        f"no artifact for model {props['Model']!r} at {model_dir}/latest in the deployer "
        f"image: run `precast optimize {props['Model']}` before `cdk deploy`"
    )


def modal_env(token: Mapping[str, str], props: Mapping[str, Any]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        MODAL_TOKEN_ID=token["token_id"],
        MODAL_TOKEN_SECRET=token["token_secret"],
        HOME="/tmp",  # Lambda's only writable directory; modal keeps state there
        PRECAST_MODEL=str(props["Model"]),
        PRECAST_MODAL_APP=str(props["AppName"]),
        PRECAST_MODAL_GPU=str(props.get("Gpu", "")),
        PRECAST_MAX_BATCH_SIZE=str(props.get("MaxBatchSize", 32)),
        PRECAST_BATCH_WAIT_MS=str(props.get("BatchWaitMs", 10)),
        PRECAST_MODAL_MEMORY_SNAPSHOT=str(props.get("MemorySnapshot", "true")),
        PRECAST_MODAL_AUTH=str(props.get("Auth", "proxy")),
    )
    return env


def deploy(
    app_name: str, token: Mapping[str, str], props: Mapping[str, Any], runner: Runner
) -> str:
    cmd = [sys.executable, "-m", "modal", "deploy", MODAL_APP_FILE, "--name", app_name]
    if props.get("SourceHash"):
        cmd += ["--tag", str(props["SourceHash"])[:32]]
    env = modal_env(token, props)
    env["PRECAST_ARTIFACT_DIR"] = artifact_dir(project_dir(), props).as_posix()
    result = runner(cmd, env)
    output = f"{result.stdout}\n{result.stderr}"
    print(output[-4000:])  # the function's log is the deploy log
    if result.returncode != 0:
        raise ModalDeployError(f"modal deploy exited {result.returncode}: {output[-1500:]}")
    match = URL_PATTERN.search(output)
    if match is None:
        raise ModalDeployError(f"modal deploy printed no *.modal.run URL: {output[-1500:]}")
    return match.group(0)


def stop(app_name: str, token: Mapping[str, str], props: Mapping[str, Any], runner: Runner) -> None:
    """Stop the app; a missing app is fine (already stopped, or never deployed)."""
    cmd = [sys.executable, "-m", "modal", "app", "stop", app_name, "--yes"]
    result = runner(cmd, modal_env(token, props))
    print(result.stdout[-2000:], result.stderr[-2000:])


def handle(
    event: Mapping[str, Any], *, runner: Runner = run, token_reader: TokenReader = read_token
) -> dict[str, Any]:
    request = event["RequestType"]
    props = event["ResourceProperties"]
    app_name = str(props["AppName"])
    if request not in ("Create", "Update", "Delete"):
        raise ValueError(f"unknown RequestType {request!r}. Choices are: Create|Update|Delete")

    if request == "Delete":
        return _delete(event, props, app_name, runner, token_reader)

    token = token_reader(str(props["SecretArn"]))
    if token is None:
        message = (
            f"pending: put the Modal token in secret {props['SecretArn']} "
            '(\'{"token_id": "ak-...", "token_secret": "as-..."}\'), then '
            "`cdk deploy -c precast:modalRedeploy=<new value>`"
        )
        return {"PhysicalResourceId": app_name, "Data": {"Url": message, "Status": "pending"}}
    url = deploy(app_name, token, props, runner)
    return {"PhysicalResourceId": app_name, "Data": {"Url": url, "Status": "deployed"}}


def _delete(
    event: Mapping[str, Any],
    props: Mapping[str, Any],
    app_name: str,
    runner: Runner,
    token_reader: TokenReader,
) -> dict[str, Any]:
    """Stop the app. Never fails: a stuck custom resource would block stack teardown."""
    # The physical id is the app name that was deployed; after a rename CloudFormation
    # deletes the old app under its old id.
    physical = str(event.get("PhysicalResourceId") or app_name)
    try:
        token = token_reader(str(props["SecretArn"]))
        if token is not None:
            stop(physical, token, props, runner)
    except Exception as exc:  # report and let the stack delete proceed
        print(
            f"could not stop Modal app {physical!r}: {exc!r}; stop it with "
            f"`modal app stop {physical}`"
        )
    return {"PhysicalResourceId": physical}


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    """Lambda entry point (``index.handler``)."""
    return handle(event)

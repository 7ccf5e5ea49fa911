"""The Modal deployer custom resource handles Create, Update and Delete.

GIVEN CloudFormation events and a fake ``modal`` runner (no network, no token), WHEN the
handler runs, THEN it deploys or stops the right app and returns what the provider
framework sends back to CloudFormation.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from cdk.modal_deployer import index

TOKEN = {"token_id": "ak-test", "token_secret": "as-test"}
PROPS = {
    "AppName": "precast-minilm",
    "Model": "minilm",
    "Gpu": "T4",
    "MaxBatchSize": "32",
    "BatchWaitMs": "10",
    "MemorySnapshot": "false",
    "ArtifactsDir": "artifacts",
    "SecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:modal-abc",
    "SourceHash": "0123456789abcdef" * 4,
    "Redeploy": "0",
}
DEPLOY_OUTPUT = (
    "✓ Created objects.\n"
    "├── 🔨 Created web function Model.web => https://ws--precast-minilm-model-web.modal.run\n"
    "✓ App deployed in 3.2s! 🎉\n"
)


class FakeModal:
    def __init__(self, returncode: int = 0, stdout: str = DEPLOY_OUTPUT) -> None:
        self.calls: list[tuple[list[str], Mapping[str, str]]] = []
        self.returncode = returncode
        self.stdout = stdout

    def __call__(self, cmd: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
        self.calls.append((cmd, env))
        return subprocess.CompletedProcess(cmd, self.returncode, self.stdout, "")


@pytest.fixture(autouse=True)
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project as the deployer image holds it: artifacts/minilm/latest -> v1."""
    (tmp_path / "artifacts" / "minilm" / "v1").mkdir(parents=True)
    (tmp_path / "artifacts" / "minilm" / "latest").write_text("v1\n", encoding="utf-8")
    monkeypatch.setenv("PRECAST_PROJECT_DIR", str(tmp_path))
    return tmp_path


def event(request: str, **extra: Any) -> dict[str, Any]:
    return {"RequestType": request, "ResourceProperties": dict(PROPS), **extra}


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_create_and_update_deploy_and_return_the_url(request_type: str) -> None:
    modal = FakeModal()
    result = index.handle(event(request_type), runner=modal, token_reader=lambda _: TOKEN)
    assert result == {
        "PhysicalResourceId": "precast-minilm",
        "Data": {"Url": "https://ws--precast-minilm-model-web.modal.run", "Status": "deployed"},
    }
    ((cmd, env),) = modal.calls
    assert cmd[1:] == [
        "-m", "modal", "deploy", "functions/modal_app.py",
        "--name", "precast-minilm", "--tag", PROPS["SourceHash"][:32],
    ]  # fmt: skip
    assert env["MODAL_TOKEN_ID"] == "ak-test" and env["MODAL_TOKEN_SECRET"] == "as-test"
    assert env["PRECAST_MODEL"] == "minilm"
    assert env["PRECAST_MODAL_APP"] == "precast-minilm"
    assert env["PRECAST_MODAL_GPU"] == "T4"
    assert env["PRECAST_MODAL_MEMORY_SNAPSHOT"] == "false"  # the deploy switch reaches modal
    assert env["PRECAST_ARTIFACT_DIR"] == "artifacts/minilm/v1"
    assert env["HOME"] == "/tmp"


def test_missing_artifact_fails_with_the_command_to_run(project: Path) -> None:
    (project / "artifacts" / "minilm" / "latest").unlink()
    with pytest.raises(index.ModalDeployError, match="precast optimize minilm"):
        index.handle(event("Create"), runner=FakeModal(), token_reader=lambda _: TOKEN)


def test_unfilled_token_succeeds_without_deploying_and_says_what_to_do() -> None:
    modal = FakeModal()
    result = index.handle(event("Create"), runner=modal, token_reader=lambda _: None)
    assert modal.calls == []
    assert result["Data"]["Status"] == "pending"
    assert PROPS["SecretArn"] in result["Data"]["Url"]
    assert "precast:modalRedeploy" in result["Data"]["Url"]


def test_failed_deploy_raises_with_the_output_tail() -> None:
    modal = FakeModal(returncode=1, stdout="Error: image build failed")
    with pytest.raises(index.ModalDeployError, match="image build failed"):
        index.handle(event("Update"), runner=modal, token_reader=lambda _: TOKEN)


def test_deploy_without_a_url_is_an_error() -> None:
    modal = FakeModal(stdout="App deployed, but no web endpoint")
    with pytest.raises(index.ModalDeployError, match="no .*modal.run URL"):
        index.handle(event("Create"), runner=modal, token_reader=lambda _: TOKEN)


def test_delete_stops_the_deployed_app_by_its_physical_id() -> None:
    modal = FakeModal()
    result = index.handle(
        event("Delete", PhysicalResourceId="precast-old-name"),
        runner=modal,
        token_reader=lambda _: TOKEN,
    )
    assert result == {"PhysicalResourceId": "precast-old-name"}
    ((cmd, _),) = modal.calls
    assert cmd[1:] == ["-m", "modal", "app", "stop", "precast-old-name", "--yes"]


def test_delete_never_blocks_stack_teardown() -> None:
    def broken_reader(_: str) -> dict[str, str]:
        raise RuntimeError("AccessDenied")

    result = index.handle(event("Delete"), runner=FakeModal(), token_reader=broken_reader)
    assert result == {"PhysicalResourceId": "precast-minilm"}


def test_delete_without_a_token_has_nothing_to_stop() -> None:
    modal = FakeModal()
    index.handle(event("Delete"), runner=modal, token_reader=lambda _: None)
    assert modal.calls == []


def test_unknown_request_type_is_rejected() -> None:
    with pytest.raises(ValueError, match="Create|Update|Delete"):
        index.handle(event("Replace"), runner=FakeModal(), token_reader=lambda _: TOKEN)

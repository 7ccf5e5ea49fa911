"""docs/deploy.md: the SigV4 snippet runs, and the app command matches cdk.json."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest
from cdk_support import REPO, Synthesized

DOC = REPO / "docs" / "deploy.md"


def _snippet() -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- sigv4-example -->\s*```python\n(.*?)```", text, re.DOTALL)
    assert match, "the SigV4 example block is missing from docs/deploy.md"
    return match.group(1)


def test_sigv4_snippet_signs_for_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    namespace: dict[str, object] = {"__name__": "deploy_doc_example"}
    exec(compile(_snippet(), str(DOC), "exec"), namespace)  # our own docs
    request = namespace["signed_request"](  # type: ignore[operator]
        "https://abc.lambda-url.us-east-1.on.aws/v1/models/minilm/predict",
        {"inputs": ["hello"]},
        "us-east-1",
    )
    assert isinstance(request, urllib.request.Request)
    auth = request.get_header("Authorization")
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/us-east-1/lambda/aws4_request" in auth
    assert json.loads(request.data) == {"inputs": ["hello"]}  # type: ignore[arg-type]


def test_documented_app_command_is_the_one_in_cdk_json() -> None:
    app = json.loads((REPO / "cdk.json").read_text(encoding="utf-8"))["app"]
    assert f'"app": "{app}"' in DOC.read_text(encoding="utf-8")
    assert app == ".venv/bin/python -m cdk.app"


def test_documented_batch_job_command_is_the_synthesized_one(real_app: Synthesized) -> None:
    """GIVEN docs/batch.md's job-definition command WHEN compared with the synthesized job
    definition's Command THEN the same flags (values differ: the doc shows example URIs)."""
    text = (REPO / "docs" / "batch.md").read_text(encoding="utf-8")
    match = re.search(r"job definition's command.*?```text\n(.*?)\n```", text, re.DOTALL)
    assert match, "the job command block is missing from docs/batch.md"
    documented = match.group(1).split()
    command = real_app.one("AWS::Batch::JobDefinition")["ContainerProperties"]["Command"]
    flags = [w for w in command if w.startswith("--")]
    assert documented[0] == command[0] == "run"
    assert [w for w in documented if w.startswith("--")] == flags


def test_documented_outputs_are_the_synthesized_ones(real_app: Synthesized) -> None:
    """GIVEN docs/deploy.md's list of stack outputs WHEN `<Model>` is the sample model THEN
    it names exactly the outputs of the synthesized template (a new output must be listed)."""
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"Outputs \(also in the CloudFormation console\):(.*?)\n\n", text, re.S)
    assert match, "the outputs list is missing from docs/deploy.md"
    documented = {
        n.replace("<Model>", "Minilm") for n in re.findall(r"`(\w+(?:<Model>)?)`", match.group(1))
    }
    assert documented == set(real_app.template["Outputs"])

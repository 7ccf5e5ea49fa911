"""The Lambda asset builder: wheel selection, and a local-Python asset invoked in isolation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from function_events import EVENTS

from precast.project.lambda_asset import (
    LAMBDA_UNZIPPED_LIMIT,
    RUNTIME_DISTRIBUTIONS,
    build_lambda_asset,
    pip_command,
    wheel_platforms,
)


@pytest.mark.parametrize(("arch", "machine"), [("x86_64", "x86_64"), ("arm64", "aarch64")])
def test_pip_targets_lambdas_glibc_for_the_architecture(arch: str, machine: str) -> None:
    """GIVEN a Lambda architecture WHEN the pip command is made THEN it asks for cp312
    manylinux wheels up to glibc 2.34 for that machine, binary only, no dependencies."""
    cmd = pip_command(Path("/tmp/x"), arch, "3.12")
    platforms = {cmd[i + 1] for i, a in enumerate(cmd) if a == "--platform"}
    assert platforms == set(wheel_platforms(arch))
    assert f"manylinux_2_28_{machine}" in platforms and f"manylinux2014_{machine}" in platforms
    assert f"manylinux_2_35_{machine}" not in platforms
    assert cmd[cmd.index("--python-version") + 1] == "3.12"
    assert cmd[cmd.index("--abi") + 1] == "cp312"
    assert {"--no-deps", "--only-binary=:all:"} <= set(cmd)
    requirements = [a for a in cmd if "==" in a]
    assert len(requirements) == len(RUNTIME_DISTRIBUTIONS)
    assert not any(r.startswith(("boto3", "botocore", "torch", "sympy")) for r in requirements)


PROBE = """
import json, sys
sys.dont_write_bytecode = True
import functions.lambda_handler as h

class Context:
    function_name = "precast-asset-test"
    memory_limit_in_mb = 2048
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:precast-asset-test"
    aws_request_id = "asset-test-1"

event = json.load(open(sys.argv[1]))
response = h.handler(event, Context())
files = sorted({getattr(m, "__file__", None) or "" for m in list(sys.modules.values())})
print(json.dumps({"response": response, "files": files, "path": sys.path}))
"""


@pytest.mark.slow
def test_local_asset_imports_and_answers_in_isolation(
    sample_artifact: Path, tmp_path: Path
) -> None:
    """GIVEN an asset built for this Python WHEN a fresh interpreter that cannot see the dev
    venv (-S -s, PYTHONPATH=asset) imports the handler and invokes a recorded Function URL
    event THEN it answers 200 and every module it loaded came from the asset or the stdlib."""
    report = build_lambda_asset(
        "minilm", sample_artifact, tmp_path, arch="local", python="local", make_zip=False
    )
    asset = report.directory
    assert report.unzipped_bytes < LAMBDA_UNZIPPED_LIMIT
    assert not (asset / "functions" / "modal_app.py").exists()
    # the artifact's CUDA variant stays out: Lambda runs ONNX Runtime on the CPU only
    assert sorted(p.name for p in (asset / "artifact").iterdir()) == [
        "manifest.json",
        "model.onnx",
        "tokenizer.json",
    ]
    assert not (asset / "onnxruntime" / "tools").exists()
    assert not list(asset.glob("numpy/**/tests"))
    for record in asset.glob("*.dist-info/RECORD"):
        for line in record.read_text().splitlines():
            assert (asset / line.split(",", 1)[0]).exists(), f"{record}: {line}"

    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(asset),
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PRECAST_CACHE_URL": f"sqlite:{tmp_path / 'cache.sqlite'}",
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-S", "-s", "-c", PROBE, str(EVENTS / "function_url_predict.json")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    response = result["response"]
    assert response["statusCode"] == 200, response
    body = json.loads(response["body"])
    assert len(body["predictions"]) == 2 and body["cached"] == [False, False]
    stdlib = str(Path(os.__file__).parent)
    foreign = [
        f
        for f in result["files"]
        if f and not f.startswith((str(asset), stdlib)) and "frozen" not in f
    ]
    assert foreign == [], foreign
    assert not any(p.endswith("site-packages") for p in result["path"])

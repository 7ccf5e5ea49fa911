"""Cold-start guard: what ``import functions.lambda_handler`` pulls in, in a fresh process.

Checked by module names in ``sys.modules``, not by time (this machine's clock is shared).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.perf

HEAVY = ("torch", "transformers", "optimum", "sentence_transformers", "onnx", "boto3")
# Not in the Lambda asset at all: /metrics is for the local and Modal hosts only.
NOT_SHIPPED = ("prometheus_client",)
# powertools' user-agent module does a bare `import botocore` (package __init__ only, <1 ms);
# the expensive parts are the session/client machinery, which must stay out.
BOTOCORE_HEAVY = ("botocore.session", "botocore.client", "aws_xray_sdk")

PROBE = """
import json, sys
import functions.lambda_handler
print(json.dumps(sorted(sys.modules)))
"""


def _imported(repo: Path, artifact: Path, cache_url: str) -> set[str]:
    env = {
        **os.environ,
        "PRECAST_ARTIFACT_DIR": str(artifact),
        "PRECAST_CACHE_URL": cache_url,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_handler_import_stays_lean_with_sqlite(
    repo_root: Path, sample_artifact: Path, tmp_path: Path
) -> None:
    """GIVEN a SQLite cache WHEN the handler module is imported fresh THEN no torch,
    transformers, optimum, onnx, boto3, botocore client machinery or X-Ray SDK is loaded."""
    modules = _imported(repo_root, sample_artifact, f"sqlite:{tmp_path / 'c.sqlite'}")
    assert "onnxruntime" in modules and "starlette" in modules  # the probe did run the import
    for name in HEAVY + BOTOCORE_HEAVY + NOT_SHIPPED:
        assert name not in modules, f"{name} imported on the Lambda init path"


def test_dynamodb_cache_is_what_brings_boto3(repo_root: Path, sample_artifact: Path) -> None:
    """GIVEN a dynamodb: cache URL WHEN imported fresh THEN boto3 is loaded (so the lean
    result above is down to the lazy import, not to a probe that cannot see boto3)."""
    modules = _imported(repo_root, sample_artifact, "dynamodb:precast-cache?region=us-east-1")
    assert "boto3" in modules
    assert not {"torch", "transformers", "optimum"} & modules

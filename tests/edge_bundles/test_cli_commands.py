"""`precast keys`, `precast bundle`, `precast edge update|check|rollback|refresh|rotate-key|
publish` end to end."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from edge.signing import ROLES
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
    `update`, `check`, `rollback`, `refresh`, `rotate-key`, `publish` and `update` run
    THEN role keys land in keys_dir (private 0600) and the second `keys` refuses; the bundle
    and its TUF channel land in dist/bundles/minilm and the second `bundle` keeps the file
    and the channel; the device installs the artifact's version, then has nothing to update
    or roll back to; refresh re-signs the timestamp, rotate-key writes root v2 and the old
    key moves to revoked/; the published copy serves a device that follows the rotation."""
    assert run(project, "keys") == 0
    keys = project / ".precast" / "keys"
    for role in ROLES:
        assert stat.S_IMODE((keys / f"{role}.key").stat().st_mode) == 0o600
    assert (keys / "targets.pub").read_text().strip() in capsys.readouterr().out
    assert run(project, "keys") == 1
    assert "rotate-key" in capsys.readouterr().err

    version = sample_artifact.name
    assert run(project, "bundle", "minilm") == 0
    out = capsys.readouterr().out
    channel = project / "dist" / "bundles" / "minilm"
    bundle = channel / f"minilm-{version}.pcb"
    assert f"wrote {bundle}" in out and f"{bundle.stat().st_size} bytes" in out
    timestamp = (channel / "metadata" / "timestamp.json").read_bytes()
    mtime = bundle.stat().st_mtime_ns
    assert run(project, "bundle", "minilm") == 0
    assert "kept existing" in capsys.readouterr().out and bundle.stat().st_mtime_ns == mtime
    assert (channel / "metadata" / "timestamp.json").read_bytes() == timestamp

    root = channel / "metadata" / "1.root.json"
    device = ["--install-dir", str(project / "device"), "--root", str(root), "--model", "minilm"]
    assert run(project, "edge", "check", "--source", str(channel), *device) == 0
    assert "update available" in capsys.readouterr().out
    assert run(project, "edge", "update", "--source", str(channel), *device) == 0
    out = capsys.readouterr().out
    assert f"updated: installed minilm {version}" in out and "min smoke cosine" in out
    assert run(project, "edge", "check", "--source", str(channel), *device) == 0
    assert "no update" in capsys.readouterr().out
    assert run(project, "edge", "rollback", *device) == 1
    assert "no previous version" in capsys.readouterr().err

    assert run(project, "edge", "refresh", "minilm") == 0
    assert "timestamp v" in capsys.readouterr().out
    assert run(project, "edge", "rotate-key", "minilm", "--role", "targets") == 0
    assert "root v2" in capsys.readouterr().out
    assert (keys / "revoked" / "targets.key").is_file() and (keys / "targets.key").is_file()
    mirror = project / "mirror"
    assert run(project, "edge", "publish", "minilm", "--to", str(mirror)) == 0
    assert "targets first" in capsys.readouterr().out
    assert sorted(p.name for p in mirror.iterdir()) == ["metadata", "targets"]
    assert run(project, "edge", "update", "--source", str(mirror), *device) == 0
    assert "up-to-date" in capsys.readouterr().out
    assert (project / "device" / "tuf" / "root_history" / "2.root.json").is_file()


def test_bundle_without_keys_says_to_create_them(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN a project with no keys
    WHEN `precast bundle minilm` runs
    THEN it fails with exit 1 and points at `precast keys`; no bundle is written."""
    assert run(project, "bundle", "minilm") == 1
    assert "precast keys" in capsys.readouterr().err
    assert not (project / "dist").exists()


def test_bundle_with_explicit_keys_and_out_and_thresholds(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN keys written with `precast keys --out DIR --threshold targets=2`
    WHEN `precast bundle minilm --keys DIR --out OUT` runs
    THEN the channel lands in OUT, its root requires 2 targets signatures and targets
    metadata carries both; a bad --threshold is refused naming the roles."""
    from edge.channel_repository import ChannelRepository

    assert main(["keys", "--out", str(tmp_path / "k"), "--threshold", "targets=2"]) == 0
    assert (tmp_path / "k" / "targets-2.key").is_file()
    capsys.readouterr()
    assert (
        run(
            project, "bundle", "minilm", "--keys", str(tmp_path / "k"), "--out", str(tmp_path / "o")
        )
        == 0
    )
    repo = ChannelRepository(tmp_path / "o")
    assert repo.load_root().signed.roles["targets"].threshold == 2
    assert len(repo.load_targets().signatures) == 2
    assert len(list((tmp_path / "o").glob("*.pcb"))) == 1
    assert main(["keys", "--out", str(tmp_path / "k2"), "--threshold", "bogus=2"]) == 1
    assert "ROLE=N" in capsys.readouterr().err

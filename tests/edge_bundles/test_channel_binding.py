"""Channels are bound to what they serve (issue 24, row 2): every channel `precast bundle`
makes names itself (``minilm/production``, ``minilm/staging``, ``othermodel/production``)
in the signed part of each metadata file, and a device refuses metadata of any other
channel signed by the same project keys before python-tuf trusts any of its versions.
Each attack runs on a directory and on an HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edge.channel_repository import (
    CHANNEL_FIELD,
    ChannelRepository,
    channel_directory,
    channel_identity,
)
from edge.exceptions import ChannelVerificationError
from edge.updater import Updater
from precast.cli import main
from precast.commands.edge_update import publish_channel

from .conftest import MODEL, KeyPair, VariantFactory
from .hostile_channel import HostileChannel

BOTH = pytest.mark.parametrize("transport", ["dir", "http"])


def stamp(n: int) -> str:
    return f"2026-01-01T00:00:{n:02d}+00:00"


def _create(repo: ChannelRepository, keys: KeyPair, identity: str | None) -> ChannelRepository:
    public = {r: [s.public_key for s in v] for r, v in keys.signers.items()}
    repo.create(public, keys.signers, identity=identity)
    return repo


@pytest.fixture
def world(
    request: pytest.FixtureRequest, tmp_path: Path, keypair: KeyPair, make_variant: VariantFactory
) -> HostileChannel:
    """The channel minilm/production (the project's keys) and a device on its v1."""
    callspec = getattr(request.node, "callspec", None)
    transport = callspec.params.get("transport", "dir") if callspec else "dir"
    w = HostileChannel(tmp_path, keypair, make_variant, transport)
    _create(w.repo(), keypair, channel_identity(MODEL))
    w.publish("v1", stamp(1))
    assert w.update().version == "v1"
    return w


def _sibling(world: HostileChannel, identity: str, model: str, versions: int) -> Path:
    """Another channel signed by the same keys, published ``versions`` times (so its
    timestamp is far ahead of the honest one's); returns its directory."""
    sibling = _create(ChannelRepository(world.root / "sibling"), world.keys, identity)
    for n in range(versions):
        world.publish(f"s{n}", stamp(10 + n), name=model, target=model, repo=sibling, sync=False)
    return sibling.root


def _trusted(world: HostileChannel) -> dict[str, bytes]:
    tuf = world.install / "tuf"
    return {p.relative_to(tuf).as_posix(): p.read_bytes() for p in tuf.rglob("*.json")}


def _serve_instead(world: HostileChannel, channel: Path) -> None:
    shutil.rmtree(world.mirror)
    publish_channel(channel, str(world.mirror))


@BOTH
@pytest.mark.parametrize(
    ("identity", "model"),
    [(channel_identity(MODEL, "staging"), MODEL), (channel_identity("othermodel"), "othermodel")],
    ids=["staging-of-the-same-model", "another-model"],
)
def test_a_sibling_channel_served_at_this_url_is_refused_before_any_version_moves(
    world: HostileChannel, transport: str, identity: str, model: str
) -> None:
    """GIVEN a device on v1 of minilm/production
    WHEN the production URL serves, once, a sibling channel signed by the same keys (the
    staging channel of minilm offering a minilm.pcb, or othermodel's channel), whose
    timestamp is at version 10
    THEN ChannelVerificationError(check='channel') naming both channels; nothing is
    installed; the device's trusted metadata is byte for byte unchanged (no version moved);
    once the honest channel is back with v2 the device installs it at once. (Today the
    staging build is installed, or othermodel's timestamp v10 is trusted and the honest
    channel is refused as a rollback.)"""
    sibling = _sibling(world, identity, model, versions=9)
    assert ChannelRepository(sibling).load_timestamp().signed.version >= 10
    before = _trusted(world)
    _serve_instead(world, sibling)
    with pytest.raises(ChannelVerificationError) as refused:
        world.update()
    assert refused.value.check == "channel"
    assert identity in str(refused.value) and channel_identity(MODEL) in str(refused.value)
    world.assert_stays_on("v1")
    assert _trusted(world) == before
    _serve_instead(world, world.publisher)
    world.publish("v2", stamp(2))
    assert world.update().version == "v2"


@BOTH
def test_a_new_root_of_another_channel_is_refused(world: HostileChannel, transport: str) -> None:
    """GIVEN a device on v1 of minilm/production (root v1)
    WHEN the mirror offers as 2.root.json the root v2 of minilm/staging (same keys: it
    verifies against root v1)
    THEN ChannelVerificationError(check='channel'); the device still trusts root v1 only and
    stays on v1; without that file it updates normally."""
    sibling = ChannelRepository(world.root / "sibling")
    _create(sibling, world.keys, channel_identity(MODEL, "staging"))
    sibling.refresh(world.keys.signers, root_signers=world.keys.signers["root"])
    forged = world.mirror / "metadata" / "2.root.json"
    forged.write_bytes((sibling.metadata_dir / "2.root.json").read_bytes())
    with pytest.raises(ChannelVerificationError) as refused:
        world.update()
    assert refused.value.check == "channel"
    world.assert_stays_on("v1")
    assert sorted(p.name for p in (world.install / "tuf" / "root_history").iterdir()) == [
        "1.root.json"
    ]
    forged.unlink()
    world.publish("v2", stamp(2))
    assert world.update().version == "v2"


def test_every_metadata_file_of_a_channel_names_it(world: HostileChannel) -> None:
    """GIVEN the channel minilm/production after create, publish, refresh and a root renewal
    WHEN each metadata file's signed part is read
    THEN every one carries x-precast-channel = minilm/production, and the device reports it
    as the channel it pins."""
    repo = world.repo()
    repo.refresh(world.keys.signers, root_signers=world.keys.signers["root"])
    world.sync()
    files = sorted((world.mirror / "metadata").glob("*.json"))
    assert len(files) >= 8
    for path in files:
        assert json.loads(path.read_bytes())["signed"][CHANNEL_FIELD] == "minilm/production"
    assert world.update().status == "up-to-date"
    device = Updater(None, world.install, world.publisher / "metadata" / "1.root.json", model=MODEL)
    assert device.channel == "minilm/production"


def test_a_channel_made_before_identities_keeps_working(
    tmp_path: Path, keypair: KeyPair, make_variant: VariantFactory
) -> None:
    """GIVEN a channel created without an identity (as before this change)
    WHEN it is published, refreshed and polled by a device given its root
    THEN its metadata carries no identity, the device pins nothing and updates as before."""
    w = HostileChannel(tmp_path, keypair, make_variant, "dir")
    _create(w.repo(), keypair, None)
    w.publish("v1", stamp(1))
    assert w.update().version == "v1"
    w.repo().refresh(keypair.signers)
    w.publish("v2", stamp(2))
    assert w.update().version == "v2"
    for path in (w.mirror / "metadata").glob("*.json"):
        assert CHANNEL_FIELD not in json.loads(path.read_bytes())["signed"]
    device = Updater(None, w.install, w.publisher / "metadata" / "1.root.json", model=MODEL)
    assert device.channel is None


def test_bundle_channel_name_makes_a_separate_bound_channel(
    tmp_path: Path, sample_artifact: Path, repo_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN a project with keys and an optimized artifact
    WHEN `precast bundle minilm` and `precast bundle minilm --channel-name staging` run, and a
    production device is pointed at the staging channel
    THEN the channels live in dist/bundles/minilm/ and dist/bundles/minilm@staging/, named
    minilm/production and minilm/staging in their metadata; the device refuses staging
    (check='channel') and installs from production, and `precast edge check` prints the
    channel it pins and every trusted role's expiry; `precast edge refresh minilm
    --channel-name staging` reports each role of the staging channel."""
    models = tmp_path / "artifacts" / "minilm"
    models.mkdir(parents=True)
    (models / sample_artifact.name).symlink_to(sample_artifact)
    (models / "latest").write_text(sample_artifact.name + "\n")
    (tmp_path / "precast.toml").write_text((repo_root / "precast.toml").read_text())
    config = ["--config", str(tmp_path / "precast.toml")]
    assert main([*config, "keys"]) == 0
    assert main([*config, "bundle", "minilm"]) == 0
    assert main([*config, "bundle", "minilm", "--channel-name", "staging"]) == 0
    assert "minilm/staging" in capsys.readouterr().out
    production = channel_directory(tmp_path / "dist", "minilm")
    staging = channel_directory(tmp_path / "dist", "minilm", "staging")
    assert (production.name, staging.name) == ("minilm", "minilm@staging")
    assert ChannelRepository(production).identity == "minilm/production"
    assert ChannelRepository(staging).identity == "minilm/staging"
    root = (production / "metadata" / "1.root.json").read_bytes()
    device = Updater(staging, tmp_path / "device", root, model="minilm", health_check=False)
    with pytest.raises(ChannelVerificationError) as refused:
        device.update()
    assert refused.value.check == "channel"
    device = Updater(production, tmp_path / "device", root, model="minilm", health_check=False)
    assert device.update().version == sample_artifact.name
    (tmp_path / "root.json").write_bytes(root)
    device_args = ["--install-dir", str(tmp_path / "device"), "--root", str(tmp_path / "root.json")]
    assert (
        main(["edge", "check", "--source", str(production), *device_args, "--model", "minilm"]) == 0
    )
    out = capsys.readouterr().out
    assert "channel: minilm/production" in out
    for role in ("root", "targets", "snapshot", "timestamp"):
        assert f"trusted {role}" in out
    assert main([*config, "edge", "refresh", "minilm", "--channel-name", "staging"]) == 0
    out = capsys.readouterr().out
    assert "minilm/staging" in out
    for role in ("root", "targets", "snapshot", "timestamp"):
        assert f"  {role}" in out

"""A channel over time (issue 24, rows 3 and 4): the daily `precast edge refresh` keeps
every role alive, warns ahead of root's expiry and renews root on request; a targets key
rotation re-signs the bundles the channel offers. Time is fake on both sides: the
publisher's ChannelRepository(now=...) and the device's Updater(now=...), both driven by
one FakeTime; nothing waits on the wall clock. Devices poll a directory and an HTTP
server on 127.0.0.1."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import edge
from edge import signing
from edge.bundle import read_bundle_info
from edge.bundle_writer import build_bundle, bundle_file_name
from edge.channel_repository import DEFAULT_EXPIRY, ChannelRepository, channel_identity
from edge.exceptions import BundleVerificationError
from edge.install_layout import load_current
from edge.updater import Updater
from precast.commands.edge_update import publish_channel, refresh_channel, rotate_key

from .conftest import MODEL, KeyPair, VariantFactory
from .hostile_channel import serve

BOTH = pytest.mark.parametrize("transport", ["dir", "http"])
START = datetime(2027, 1, 1, tzinfo=UTC)


@dataclass
class FakeTime:
    """The date both the publisher and the devices read; advanced by the test only."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, days: int) -> None:
        self.now += timedelta(days=days)

    @property
    def day(self) -> int:
        return (self.now - START).days


@dataclass
class Fleet:
    """A publisher (its own copy of the keys, a channel named minilm/production), the
    mirror devices poll (dir or http), and devices on the same fake time."""

    root: Path
    key_dir: Path
    make_variant: VariantFactory
    time: FakeTime
    url: str
    repo: ChannelRepository = field(init=False)

    def __post_init__(self) -> None:
        self.repo = ChannelRepository(self.root / "publisher", now=self.time)

    @property
    def mirror(self) -> Path:
        return self.root / "mirror"

    def publish(self, version: str) -> Path:
        """Build ``version`` (bundle.sig by the current targets key) and make it the target,
        as `precast bundle` does (the .pcb kept next to metadata/), then sync the mirror."""
        targets = signing.load_role_signers(self.key_dir, "targets")  # all, as `bundle` does
        stamp = self.time.now.isoformat(timespec="seconds")
        path = build_bundle(
            self.make_variant(version), targets, self.repo.root, created_at=stamp, compresslevel=0
        )
        if not self.repo.exists():
            signers = {r: signing.load_role_signers(self.key_dir, r) for r in signing.ROLES}
            keys = {r: [s.public_key for s in v] for r, v in signers.items()}
            thresholds = {r: len(v) for r, v in keys.items()}
            self.repo.create(keys, signers, identity=channel_identity(MODEL), thresholds=thresholds)
        info = read_bundle_info(path, [s.public_key for s in targets])
        custom = {"name": info.name, "version": info.version, "created_at": info.created_at}
        online = {r: signing.load_role_signers(self.key_dir, r) for r in signing.ROLES}
        self.repo.add_bundle(path, MODEL, custom, online)
        self.sync()
        return path

    def refresh(self, *, renew_root: bool = False) -> list[Any]:
        """`precast edge refresh MODEL [--renew-root]` then `publish`."""
        states = refresh_channel(self.repo, self.key_dir, renew_root=renew_root)
        self.sync()
        return states

    def sync(self) -> None:
        publish_channel(self.repo.root, str(self.mirror))

    def device(self, name: str, root: Path | None = None) -> Updater:
        """A device given ``root`` (default: the channel's 1.root.json, as provisioned)."""
        trusted = root or self.repo.metadata_dir / "1.root.json"
        return Updater(
            self.url,
            self.root / name,
            trusted.read_bytes(),
            model=MODEL,
            health_check=False,
            now=self.time,
        )


@pytest.fixture
def fleet(
    request: pytest.FixtureRequest, tmp_path: Path, keypair: KeyPair, make_variant: VariantFactory
) -> Iterator[Fleet]:
    transport = request.node.callspec.params.get("transport", "dir")
    key_dir = tmp_path / "keys"
    shutil.copytree(keypair.directory, key_dir)
    (tmp_path / "mirror").mkdir()
    with ExitStack() as stack:
        url = str(tmp_path / "mirror")
        if transport == "http":
            url = stack.enter_context(serve(tmp_path / "mirror"))
        yield Fleet(tmp_path, key_dir, make_variant, FakeTime(), url)


def _expiry(device: Updater, role: str) -> datetime:
    return next(r.expires for r in device.trusted_roles() if r.role == role)


# -- row 4: a channel left to the daily refresh -------------------------------------------


@BOTH
def test_weekly_refresh_re_signs_targets_before_they_expire(fleet: Fleet, transport: str) -> None:
    """GIVEN a channel whose targets live 90 days and a device on v1
    WHEN only `precast edge refresh` + publish run (weekly here, no new bundle) for 105 days
    THEN refresh re-signs targets within their margin, before day 90: the device accepts the
    channel every time (today's refresh re-signs timestamp and snapshot only and the device
    refuses the channel at day 91: "New targets is expired")."""
    fleet.publish("v1")
    device = fleet.device("device")
    assert device.update().version == "v1"
    reports = {}
    while fleet.time.day < 105:
        fleet.time.advance(7)
        reports[fleet.time.day] = {s.role: s.action for s in fleet.refresh()}
        assert device.update().status == "up-to-date"
        assert _expiry(device, "targets") > fleet.time.now
    assert all(r["timestamp"] == "re-signed" for r in reports.values())
    resigned_on = [day for day, r in reports.items() if r["targets"] == "re-signed"]
    assert resigned_on and resigned_on[0] < DEFAULT_EXPIRY["targets"].days
    assert fleet.repo.load_targets().signed.version > 1


@BOTH
def test_refresh_warns_ahead_of_root_expiry_and_renews_root(
    fleet: Fleet, transport: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN a channel whose root lives 365 days and a device on v1
    WHEN `precast edge refresh` runs weekly for 400 days, and `--renew-root` once it warns
    (a new version is bundled every 8 weeks, so targets never need refresh here)
    THEN it warns (on stderr, naming --renew-root) at least 30 days before root expires, the
    renewal writes root v2 with a new expiry, and the device walks to it and never refuses
    the channel (today: no warning, and "Final root.json is expired" from day 365)."""
    fleet.publish("v1")
    device = fleet.device("device")
    assert device.update().version == "v1"
    root_expires = fleet.repo.load_root().signed.expires
    warned_on = None
    while fleet.time.day < 400:
        fleet.time.advance(7)
        states = {s.role: s for s in fleet.refresh()}
        if fleet.time.day % 56 == 0:
            fleet.publish(f"v{fleet.time.day}")
            assert device.update().version == f"v{fleet.time.day}"
        if "root" in states and states["root"].warning and warned_on is None:
            warned_on = fleet.time.now
            assert "--renew-root" in capsys.readouterr().err
            renewed = {s.role: s for s in fleet.refresh(renew_root=True)}
            assert renewed["root"].action == "renewed" and renewed["root"].version == 2
            assert renewed["root"].warning is None
        assert device.update().status == "up-to-date"
    assert warned_on is not None and root_expires - warned_on >= timedelta(days=30)
    roles = {r.role: r for r in device.trusted_roles()}
    assert roles["root"].version == 2 and roles["root"].expires > fleet.time.now


@pytest.mark.slow
@BOTH
def test_two_years_of_daily_refresh_keep_every_device_updating(
    fleet: Fleet, transport: str
) -> None:
    """GIVEN a channel on v1 and a device polling it daily, both on fake time
    WHEN for 730 days only the daily `precast edge refresh` + publish run (plus
    `--renew-root` whenever refresh warns), and a new version is published every 120 days
    THEN every new version installs on the day it is published, every other poll is
    up-to-date (the device never refuses the honest channel), targets and snapshot were
    re-signed by refresh alone, root was renewed ahead of its expiry, and a new device given
    the channel's first root installs the newest version on the last day."""
    fleet.publish("v0")
    device = fleet.device("device")
    assert device.update().version == "v0"
    renewals, resigned = 0, {"targets": 0, "snapshot": 0}
    while fleet.time.day < 730:
        fleet.time.advance(1)
        states = fleet.refresh()
        if any(s.warning for s in states):
            states = fleet.refresh(renew_root=True)
            renewals += 1
        for s in states:
            if s.role in resigned and s.action == "re-signed":
                resigned[s.role] += 1
        if fleet.time.day % 120 == 0:
            version = f"v{fleet.time.day}"
            fleet.publish(version)
            assert device.update().version == version
        else:
            assert device.update().status == "up-to-date", fleet.time.day
    assert renewals == 2  # root lives 365 days: renewed twice in two years, each when warned
    assert resigned["targets"] >= 2 and resigned["snapshot"] > 100
    fresh = fleet.device("fresh-device")
    assert fresh.update().version == "v720"
    assert {r.role: r.version for r in fresh.trusted_roles()}["root"] == 3


# -- row 3: rotating the targets key ------------------------------------------------------


@BOTH
def test_targets_key_rotation_re_signs_the_bundles_the_channel_offers(
    fleet: Fleet, transport: str
) -> None:
    """GIVEN a channel offering v1 (bundle.sig by targets key A) and a device on it
    WHEN `precast edge rotate-key MODEL --role targets` (key B) runs, then publish
    THEN a new device given the new root and one given the old root both install v1 (its
    bundle re-signed by B), edge.load(pcb, public_key=B) and load_current(..., B) work and
    key A is refused; the .pcb `precast bundle` reuses verifies with B; the old device is
    up to date and installs v2 later. (Today the channel still offers the bundle signed by
    A, and every new device refuses it: "signed by key ..., but you trust [B]".)"""
    fleet.publish("v1")
    old_key = signing.load_public_key(fleet.key_dir / "targets.pub")
    device = fleet.device("device")
    assert device.update().version == "v1"
    fleet.time.advance(1)
    assert rotate_key(fleet.repo, fleet.key_dir, "targets") == 2
    fleet.sync()
    new_key = signing.load_public_key(fleet.key_dir / "targets.pub")
    assert new_key.keyid != old_key.keyid

    for name, root in [("new-device", fleet.repo.metadata_dir / "root.json"), ("old-root", None)]:
        fresh = fleet.device(name, root)
        assert fresh.update().version == "v1", name
        assert fresh.bundle_keys() == [new_key]
        assert load_current(fresh.install_dir, public_key=fleet.key_dir / "targets.pub")
    [target] = fleet.repo.load_targets().signed.targets.values()
    offered = fleet.repo.stored_path(target)
    assert edge.load(offered, public_key=fleet.key_dir / "targets.pub", extract_to=fleet.root / "x")
    with pytest.raises(BundleVerificationError) as refused:
        read_bundle_info(offered, [old_key])
    assert refused.value.check == "signature"
    kept = fleet.repo.root / bundle_file_name(MODEL, "v1")
    assert read_bundle_info(kept, [new_key]).version == "v1"

    assert device.update().status == "up-to-date"
    fleet.publish("v2")
    assert device.update().version == "v2"


@BOTH
def test_targets_rotation_at_threshold_two_re_signs_with_both_new_keys(
    fleet: Fleet, transport: str
) -> None:
    """GIVEN a channel whose targets role needs 2 of 2 keys (`precast keys --threshold
    targets=2`), offering v1 signed by both WHEN the targets keys are rotated THEN the
    offered bundle carries both new signatures: a new device (threshold 2 on bundle.sig too)
    installs it, and the old device follows to v2."""
    signing.generate_key(fleet.key_dir, "targets-2")
    fleet.publish("v1")
    device = fleet.device("device")
    assert device.update().version == "v1"
    fleet.time.advance(1)
    rotate_key(fleet.repo, fleet.key_dir, "targets")
    fleet.sync()
    fresh = fleet.device("new-device", fleet.repo.metadata_dir / "root.json")
    assert fresh.update().version == "v1"
    assert len(fresh.bundle_keys()) == 2
    fleet.publish("v2")
    assert device.update().version == "v2"

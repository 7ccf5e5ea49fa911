"""Named attacks on a device's update channel (TUF's list plus precast's bundle attacks),
each against a simulated hostile channel on a directory and/or an HTTP server on
127.0.0.1. Every test asserts the refusal, its error type, that the device stays on its
last good version, and that the refused run left nothing on disk."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tarfile
import threading
from pathlib import Path
from typing import Any

import pytest

from edge import signing
from edge.bundle_format import BUNDLE_JSON, BUNDLE_SIG, bundle_document, signature_document
from edge.channel_repository import ChannelRepository
from edge.exceptions import (
    BundleVerificationError,
    ChannelVerificationError,
    DownloadTooLargeError,
    ModelPinError,
    SlowRetrievalError,
)
from edge.file_hash import sha256_file
from edge.manifest import FileEntry, read_manifest
from edge.update_source import DownloadLimits
from precast.commands.edge_update import publish_channel

from .conftest import MODEL, KeyPair, VariantFactory
from .hostile_channel import DripHandler, EndlessHandler, HostileChannel, TickClock

BOTH = pytest.mark.parametrize("transport", ["dir", "http"])


def stamp(n: int) -> str:
    return f"2026-01-01T00:00:{n:02d}+00:00"


@pytest.fixture
def world(
    request: pytest.FixtureRequest, tmp_path: Path, keypair: KeyPair, make_variant: VariantFactory
) -> HostileChannel:
    """A publisher with its own copy of the keys, a mirror, and a device on v1."""
    callspec = getattr(request.node, "callspec", None)
    transport = callspec.params.get("transport", "dir") if callspec else "dir"
    shutil.copytree(keypair.directory, tmp_path / "keys")
    keys = KeyPair(tmp_path / "keys", {r: list(v) for r, v in keypair.signers.items()})
    w = HostileChannel(tmp_path, keys, make_variant, transport)
    w.publish("v1", stamp(1))
    assert w.update().version == "v1"
    return w


def _refused(w: HostileChannel, error: type[Exception], **kw: Any) -> Any:
    with pytest.raises(error) as info:
        w.update(**kw)
    return info.value


# -- TUF's list ------------------------------------------------------------------------


@BOTH
def test_rollback_attack(world: HostileChannel, transport: str) -> None:
    """GIVEN a device that went v1 -> v2
    WHEN the mirror replays the channel as it was at v1 (validly signed, unexpired)
    THEN ChannelVerificationError(check='rollback'); the device stays on v2."""
    old = world.save_mirror("at-v1")
    world.publish("v2", stamp(2))
    assert world.update().version == "v2"
    world.restore_mirror(old)
    assert _refused(world, ChannelVerificationError).check == "rollback"
    world.assert_stays_on("v2")


@BOTH
def test_freeze_attack(world: HostileChannel, transport: str) -> None:
    """GIVEN a device on v1
    WHEN the mirror serves metadata whose timestamp expired (a channel frozen in time: the
    publisher's clock is three days back, the timestamp lives one day)
    THEN ChannelVerificationError(check='expired'); the device stays on v1."""
    from datetime import UTC, datetime, timedelta

    stale = world.repo(now=lambda: datetime.now(UTC) - timedelta(days=3))
    world.publish("v2", stamp(2), repo=stale)
    assert _refused(world, ChannelVerificationError).check == "expired"
    world.assert_stays_on("v1")


def test_freeze_attack_on_a_fresh_device(world: HostileChannel) -> None:
    """GIVEN a fresh device given the channel's root
    WHEN the channel it reads expired (nothing re-signed it for days)
    THEN ChannelVerificationError(check='expired') and nothing is installed."""
    from datetime import UTC, datetime, timedelta

    stale = world.repo(now=lambda: datetime.now(UTC) - timedelta(days=3))
    stale.refresh({r: world.keys.signers[r] for r in ("snapshot", "timestamp")})
    world.sync()
    shutil.rmtree(world.install)
    assert _refused(world, ChannelVerificationError).check == "expired"
    assert not (world.install / "current").exists()


def test_fast_forward_attack_recovery(world: HostileChannel) -> None:
    """GIVEN a stolen timestamp key used to push the device to timestamp version 10**6
    WHEN the publisher then publishes v2 normally, and then rotates the timestamp key
    THEN the first is refused as a rollback (the device stays on v1); after the rotation
    the device recovers (it drops the fast-forwarded timestamp) and installs v2."""
    from tuf.api.metadata import Metadata, Timestamp

    path = world.mirror / "metadata" / "timestamp.json"
    forged: Metadata[Timestamp] = Metadata.from_bytes(path.read_bytes())
    forged.signed.version = 10**6
    forged.signatures.clear()
    forged.sign(world.keys.signers["timestamp"][0])
    path.write_bytes(forged.to_bytes())
    assert world.update().status == "up-to-date"  # accepted: the key was valid
    world.publish("v2", stamp(2))
    assert _refused(world, ChannelVerificationError).check == "rollback"
    world.assert_stays_on("v1")
    new = signing.generate_key(world.keys.directory, "timestamp", force=True)
    world.keys.signers["timestamp"] = [new]
    world.repo().rotate(
        "timestamp", [new.public_key], world.keys.signers["root"], world.keys.signers
    )
    world.sync()
    assert world.update().version == "v2"


@BOTH
def test_mix_and_match_attack(world: HostileChannel, transport: str) -> None:
    """GIVEN a device on v1 and a channel now at v2
    WHEN the mirror serves v2's snapshot with v1's targets metadata under v2's name, or
    v1's bundle bytes under v2's target name
    THEN ChannelVerificationError(check='hash') both times; the device stays on v1."""
    v1_targets = world.repo().load_targets().signed.version
    world.publish("v2", stamp(2))
    meta = world.mirror / "metadata"
    v2_targets = world.repo().load_targets().signed.version
    original = (meta / f"{v2_targets}.targets.json").read_bytes()
    (meta / f"{v2_targets}.targets.json").write_bytes(
        (meta / f"{v1_targets}.targets.json").read_bytes()
    )
    assert _refused(world, ChannelVerificationError).check == "hash"
    world.assert_stays_on("v1")
    (meta / f"{v2_targets}.targets.json").write_bytes(original)
    v2_file = world.mirror / "targets" / f"{sha256_file(world.bundles['v2'])}.{MODEL}.pcb"
    v2_file.write_bytes(world.bundles["v1"].read_bytes())
    assert _refused(world, ChannelVerificationError).check == "hash"
    world.assert_stays_on("v1")


def test_endless_data_attack_over_http(world: HostileChannel) -> None:
    """GIVEN a device on v1 and a channel at v2
    WHEN the server answers the bundle (then timestamp.json) with a body that never ends
    THEN DownloadTooLargeError both times, after at most the signed length (for metadata:
    ngclient's cap) was read; the device stays on v1."""
    world.publish("v2", stamp(2))
    world.transport = "http"
    world.handler = EndlessHandler
    EndlessHandler.sent = []
    EndlessHandler.finished = threading.Semaphore(0)
    EndlessHandler.endless_suffix = ".pcb"
    assert "signed length" in str(_refused(world, DownloadTooLargeError))
    world.assert_stays_on("v1")
    EndlessHandler.endless_suffix = "timestamp.json"
    _refused(world, DownloadTooLargeError)
    world.assert_stays_on("v1")
    for _ in range(2):  # the server saw the client hang up on both bodies
        assert EndlessHandler.finished.acquire(timeout=60)
    assert len(EndlessHandler.sent) == 2
    assert all(sent < 1 << 30 for sent in EndlessHandler.sent)  # the client hung up first


def test_endless_data_attack_on_a_directory(world: HostileChannel) -> None:
    """GIVEN a device on v1 and a mirror whose v2 bundle file was padded with junk
    WHEN the device updates
    THEN DownloadTooLargeError (no more than the signed length is read); stays on v1."""
    world.publish("v2", stamp(2))
    v2_file = world.mirror / "targets" / f"{sha256_file(world.bundles['v2'])}.{MODEL}.pcb"
    with open(v2_file, "ab") as fh:
        fh.write(b"\0" * (1 << 20))
    _refused(world, DownloadTooLargeError)
    world.assert_stays_on("v1")


@pytest.mark.parametrize(
    ("limits", "limit"),
    [
        (DownloadLimits(deadline_s=1e9, min_rate=1000.0, grace_s=5.0), "min_rate"),
        (DownloadLimits(deadline_s=40.0, min_rate=0.0, grace_s=0.0), "deadline"),
    ],
)
def test_slow_retrieval_attack(world: HostileChannel, limits: DownloadLimits, limit: str) -> None:
    """GIVEN a device on v1 and an HTTP server that sends v2's bundle one byte per tick of
    the device's (injected) clock
    WHEN the device updates with a minimum rate, or with an overall deadline
    THEN SlowRetrievalError naming that limit; the device stays on v1."""
    world.publish("v2", stamp(2))
    clock = TickClock()
    DripHandler.clock = clock
    world.transport, world.handler = "http", DripHandler
    error = _refused(world, SlowRetrievalError, limits=limits, clock=clock)
    assert error.limit == limit
    world.assert_stays_on("v1")


def test_arbitrary_model_attack(world: HostileChannel) -> None:
    """GIVEN a device pinned to minilm, on v1
    WHEN the channel (signed with the real keys) offers a bundle of othermodel under the
    target minilm.pcb, or the mirror serves another channel (same keys) whose only target
    is othermodel.pcb
    THEN ModelPinError both times, naming the pin; the device stays on v1."""
    world.publish("o2", stamp(4), name="othermodel", target=MODEL)
    assert "othermodel" in str(_refused(world, ModelPinError))
    world.assert_stays_on("v1")
    other = ChannelRepository(world.root / "other-channel")
    keys = {k: [s.public_key for s in v] for k, v in world.keys.signers.items()}
    other.create(keys, world.keys.signers)
    path = world.publish(
        "o1", stamp(3), name="othermodel", target="othermodel", repo=other, sync=False
    )
    for n in range(2, 6):  # newer versions than the device's, or TUF calls it a rollback
        custom = {"name": "othermodel", "version": f"o{n}", "created_at": stamp(3)}
        other.add_bundle(path, "othermodel", custom, world.keys.signers)
    shutil.rmtree(world.mirror)
    publish_channel(other.root, str(world.mirror))
    # same keys, so the other channel's metadata verifies; its targets lack minilm.pcb
    assert "no minilm.pcb" in str(_refused(world, ModelPinError))
    world.assert_stays_on("v1")


@BOTH
def test_key_compromise_and_rotation(world: HostileChannel, transport: str) -> None:
    """GIVEN the online keys (targets, snapshot, timestamp) leaked
    WHEN the operator rotates all three (root signed by the offline root key), publishes v2,
    and the attacker then re-signs the mirror with the leaked keys to offer their own v3
    THEN the device follows the rotation to v2 without being re-flashed, and refuses the
    attacker's metadata with ChannelVerificationError(check='signature'); it stays on v2."""
    leaked = {r: list(v) for r, v in world.keys.signers.items()}
    for role in ("targets", "snapshot", "timestamp"):
        new = signing.generate_key(world.keys.directory, role, force=True)
        world.keys.signers[role] = [new]
        world.repo().rotate(role, [new.public_key], world.keys.signers["root"], world.keys.signers)
    world.publish("v2", stamp(2))
    assert world.update().version == "v2"
    attacker = ChannelRepository(world.mirror)
    evil = world.bundle("v3", stamp(3))
    custom = {"name": MODEL, "version": "v3", "created_at": stamp(3)}
    attacker.add_bundle(evil, MODEL, custom, leaked)
    assert _refused(world, ChannelVerificationError).check == "signature"
    world.assert_stays_on("v2")


def test_root_key_rotation_then_the_old_root_key_is_refused(world: HostileChannel) -> None:
    """GIVEN a root key rotation (root v2 signed by the old and the new root key) and v2
    WHEN the device updates, and then an attacker holding the old root key publishes a
    root v3 that trusts their own keys, signed by that old key only
    THEN the device walks to root v2 and installs v2; root v3 is refused with
    ChannelVerificationError(check='signature'); the device stays on v2."""
    from tuf.api.metadata import Metadata, Root

    old_root = world.keys.signers["root"]
    new_root = signing.generate_key(world.keys.directory, "root", force=True)
    world.repo().rotate("root", [new_root.public_key], [*old_root, new_root], world.keys.signers)
    world.keys.signers["root"] = [new_root]
    world.publish("v2", stamp(2))
    assert world.update().version == "v2"
    forged: Metadata[Root] = Metadata.from_bytes(
        (world.mirror / "metadata/2.root.json").read_bytes()
    )
    forged.signed.version = 3
    forged.signatures.clear()
    forged.sign(old_root[0])
    (world.mirror / "metadata" / "3.root.json").write_bytes(forged.to_bytes())
    assert _refused(world, ChannelVerificationError).check == "signature"
    world.assert_stays_on("v2")


def test_threshold_not_met(world: HostileChannel) -> None:
    """GIVEN a channel whose root requires 2 of 2 targets keys, and a device on its v1
    WHEN v2 is published with targets metadata signed by only one of them
    THEN ChannelVerificationError(check='signature'); the device stays on v1."""
    second = signing.generate_key(world.keys.directory, "targets-2")
    both = [world.keys.signers["targets"][0], second]
    world.repo().rotate(
        "targets",
        [s.public_key for s in both],
        world.keys.signers["root"],
        {**world.keys.signers, "targets": both},
        threshold=2,
    )
    world.sync()
    assert world.update().status == "up-to-date"
    world.publish("v2", stamp(2), signers={**world.keys.signers, "targets": both[:1]})
    assert _refused(world, ChannelVerificationError).check == "signature"
    world.assert_stays_on("v1")


# -- bundle attacks that pass TUF (the publisher's key signed them) ---------------------


def _signed_archive(
    path: Path, artifact: Path, signer: Any, extra: list[tuple[str, bytes]]
) -> Path:
    """A bundle of ``artifact`` with correctly signed metadata, then hostile raw members."""
    manifest = read_manifest(artifact)
    names = ["manifest.json", *manifest.files]
    members = {
        n: FileEntry(sha256=sha256_file(artifact / n), size=(artifact / n).stat().st_size)
        for n in names
    }
    meta = bundle_document(manifest.name, manifest.version, stamp(9), members)
    entries = [(BUNDLE_JSON, meta), (BUNDLE_SIG, signature_document(signer, meta))]
    entries += [(n, (artifact / n).read_bytes()) for n in names[:1]] + extra
    with tarfile.open(path, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, payload in entries:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path


def _publish_file(world: HostileChannel, bundle: Path, version: str) -> None:
    custom = {"name": MODEL, "version": version, "created_at": stamp(9)}
    world.repo().add_bundle(bundle, MODEL, custom, world.keys.signers)
    world.sync()


def test_tar_slip_attack(world: HostileChannel, make_variant: VariantFactory) -> None:
    """GIVEN a device on v1 and a channel whose signed target is a bundle with a member
    named ../../evil.txt (and its bundle.sig made by the real targets key)
    THEN BundleVerificationError(check='archive'); no evil.txt anywhere; stays on v1."""
    artifact = make_variant("v9")
    bundle = _signed_archive(
        world.root / "slip.pcb", artifact, world.keys.seed, [("../../evil.txt", b"owned")]
    )
    _publish_file(world, bundle, "v9")
    error = _refused(world, BundleVerificationError)
    assert error.check == "archive" and "unsafe path" in str(error)
    world.assert_stays_on("v1")


def pax_bomb(path: Path, declared: int = 512 << 20) -> Path:
    """A tar whose first header is a pax extended header declaring ``declared`` bytes,
    followed by a few KB: what makes tarfile allocate the declared size."""
    info = tarfile.TarInfo("././@PaxHeader")
    info.type = tarfile.XHDTYPE
    info.size = declared
    path.write_bytes(info.tobuf(format=tarfile.USTAR_FORMAT) + b"x" * 10_000 + b"\0" * 1024)
    return path


def test_pax_bomb_attack(world: HostileChannel) -> None:
    """GIVEN a device on v1 and a channel whose signed target is a pax bomb
    THEN BundleVerificationError(check='archive') naming the extension header; stays on v1."""
    _publish_file(world, pax_bomb(world.root / "bomb.pcb"), "v9")
    error = _refused(world, BundleVerificationError)
    assert error.check == "archive" and "extension header" in str(error)
    world.assert_stays_on("v1")


MEASURE = """
import resource, sys
from edge.bundle import read_bundle_info
from edge.exceptions import BundleVerificationError
from edge import signing
key = signing.load_public_key(sys.argv[2])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    read_bundle_info(__import__("pathlib").Path(sys.argv[1]), [key])
except BundleVerificationError as exc:
    print("refused", exc.check)
print("grew_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


@pytest.mark.parametrize("kind", ["pax", "gnu-longname", "nested-json"])
def test_hostile_bundle_memory_is_bounded(tmp_path: Path, keypair: KeyPair, kind: str) -> None:
    """GIVEN a bundle opened directly (no channel: a USB copy) that is a pax bomb declaring
    512 MiB, a GNU long-name header declaring 512 MiB, or a bundle.json nested 100k deep
    WHEN read_bundle_info opens it in a fresh process
    THEN it is refused (check archive / format) and the process grew by under 8 MB (RSS)."""
    path = tmp_path / "hostile.pcb"
    if kind == "pax":
        pax_bomb(path)
    elif kind == "gnu-longname":
        info = tarfile.TarInfo("././@LongLink")
        info.type, info.size = tarfile.GNUTYPE_LONGNAME, 512 << 20
        path.write_bytes(info.tobuf(format=tarfile.GNU_FORMAT) + b"x" * 10_000)
    else:
        nested = b"[" * 100_000 + b"]" * 100_000
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for name, payload in ((BUNDLE_JSON, nested), (BUNDLE_SIG, b"{}")):
                member = tarfile.TarInfo(name)
                member.size = len(payload)
                tar.addfile(member, io.BytesIO(payload))
        path.write_bytes(buf.getvalue())
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path), str(keypair.public_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    expected = "format" if kind == "nested-json" else "archive"
    assert f"refused {expected}" in out, out
    grew_kb = int(out.split("grew_kb ")[1])
    assert grew_kb < 8 * 1024, f"grew {grew_kb} KB"

"""Issue 24, device side: an absolute update deadline (row 1), weak keys refused on every
path (row 5), ``$PRECAST_PUBLIC_KEY`` meaning what ``public_key=`` means (row 6), bounded
gzip header fields (row 9) and thresholds applied to ``bundle.sig`` (row 11). Each test
asserts the refusal and its type; channel tests also that the device stays on its last
good version with nothing left on disk."""

from __future__ import annotations

import gzip
import io
import shutil
import tarfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from securesystemslib.signer import KEY_FOR_TYPE_AND_SCHEME, Signature, Signer, SSlibKey
from securesystemslib.signer._utils import compute_default_keyid

import edge
from edge import signing
from edge.bundle import open_bundle
from edge.bundle_format import MAX_GZIP_HEADER_FIELD_BYTES
from edge.bundle_writer import build_bundle
from edge.environment import PRECAST_PUBLIC_KEY
from edge.exceptions import BundleVerificationError, SigningKeyError, SlowRetrievalError
from edge.install_layout import InstallLayout
from edge.update_source import DownloadLimits
from edge.updater import Updater

from .conftest import MODEL, KeyPair, VariantFactory
from .hostile_channel import HostileChannel, drip_headers, never_answer, raw_server

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


# -- row 1: the deadline is absolute (connect, headers, every file) ------------------------

SLACK_S = 10.0  # an upper bound only: the servers below never finish, whatever the speed


@pytest.mark.integration
@pytest.mark.parametrize("server", [never_answer, drip_headers], ids=["silent", "drip"])
def test_deadline_cuts_off_a_server_that_never_sends_its_headers(
    world: HostileChannel, server: Any
) -> None:
    """GIVEN a device on v1 with a 1 s update deadline and 30 s per socket read
    WHEN its channel's server accepts and never answers, or drips the status line and an
    endless header one byte per 0.2 s (no read ever waits 30 s)
    THEN SlowRetrievalError(limit='deadline') well before a per-read timeout could fire;
    the device stays on v1 with nothing left on disk."""
    limits = DownloadLimits(deadline_s=1.0, read_timeout_s=30.0)
    with raw_server(server) as url:
        updater = Updater(
            url, world.install, world.publisher / "metadata" / "1.root.json", model=MODEL,
            health_check=False, limits=limits,
        )  # fmt: skip
        began = time.monotonic()
        with pytest.raises(SlowRetrievalError) as info:
            updater.update()
        elapsed = time.monotonic() - began
    assert info.value.limit == "deadline", info.value
    assert elapsed < SLACK_S, f"cut off after {elapsed:.1f} s"
    world.assert_stays_on("v1")


@pytest.mark.integration
def test_edge_update_deadline_flag_cuts_off_a_silent_server(
    world: HostileChannel, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN a device on v1
    WHEN `precast edge update --deadline 1` polls a server that accepts and never answers
    THEN the command fails naming the deadline, well before a per-read timeout; stays on v1."""
    from precast.cli import main

    with raw_server(never_answer) as url:
        began = time.monotonic()
        code = main(
            ["edge", "update", "--source", url, "--install-dir", str(world.install),
             "--root", str(world.publisher / "metadata" / "1.root.json"), "--model", MODEL,
             "--deadline", "1", "--no-health-check"]
        )  # fmt: skip
        elapsed = time.monotonic() - began
    assert code != 0
    assert "deadline" in capsys.readouterr().err
    assert elapsed < SLACK_S, f"cut off after {elapsed:.1f} s"
    world.assert_stays_on("v1")


# -- row 5: small-order keys refused wherever keys are read --------------------------------

IDENTITY = (1).to_bytes(32, "little")  # the Ed25519 identity point: y = 1


def identity_key() -> SSlibKey:
    keyval = {"public": IDENTITY.hex()}
    return SSlibKey(
        compute_default_keyid("ed25519", "ed25519", keyval), "ed25519", "ed25519", keyval
    )


class ForgedSigner(Signer):
    """'Signs' anything without a private key: R = identity, S = 0 verifies under the
    identity key in verifiers that do not refuse small-order keys (cryptography does not)."""

    def __init__(self) -> None:
        self._key = identity_key()

    @property
    def public_key(self) -> SSlibKey:
        return self._key

    def sign(self, payload: bytes) -> Signature:
        return Signature(self._key.keyid, (IDENTITY + bytes(32)).hex())

    @classmethod
    def from_priv_key_uri(cls, *args: Any, **kwargs: Any) -> ForgedSigner:
        raise NotImplementedError


@contextmanager
def publisher_tools(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The attacker's tools read their weak keys with securesystemslib's plain key class
    (the device's update just made the checked one the default in this process)."""
    with monkeypatch.context() as m:
        m.setitem(KEY_FOR_TYPE_AND_SCHEME, ("ed25519", "ed25519"), SSlibKey)
        yield


def forge_identity_channel(w: HostileChannel, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Root versions genuinely signed by the real root key that make the identity point the
    targets, snapshot and timestamp key; v2's bundle.sig and every metadata file after
    them 'signed' by ForgedSigner. Returns the newest root."""
    forged = ForgedSigner()
    with publisher_tools(monkeypatch):
        signers: dict[str, Sequence[Signer]] = {**w.keys.signers}
        for role in ("targets", "snapshot", "timestamp"):
            signers[role] = [forged]
            w.repo().rotate(role, [forged.public_key], w.keys.signers["root"], signers)
        artifact = w.make_variant("v2")
        path = build_bundle(artifact, forged, w.root / "built-evil", created_at=stamp(2),
                            compresslevel=0)  # fmt: skip
        custom = {"name": MODEL, "version": "v2", "created_at": stamp(2)}
        w.repo().add_bundle(path, MODEL, custom, signers)
        w.sync()
    return w.mirror / "metadata" / "root.json"


def trusted_root_version(install: Path) -> int:
    import json

    return int(json.loads((install / "tuf" / "root.json").read_bytes())["signed"]["version"])


@BOTH
def test_a_genuine_root_naming_the_identity_key_is_refused(
    world: HostileChannel, transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a device on v1, and root versions genuinely signed by the root key that list
    the identity point as targets/snapshot/timestamp key, with metadata and bundle.sig
    forged without any private key
    WHEN the device updates (directory and HTTP channel)
    THEN SigningKeyError naming a small-order key, before python-tuf persists such a root;
    nothing installed, the device stays on v1."""
    forge_identity_channel(world, monkeypatch)
    with pytest.raises(SigningKeyError, match="small-order"):
        world.update()
    world.assert_stays_on("v1")
    assert trusted_root_version(world.install) == 1


def test_a_trusted_root_naming_the_identity_key_is_refused(
    world: HostileChannel, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """GIVEN a fresh device provisioned with a root that lists the identity point as a key
    WHEN it updates from the forged channel that root vouches for
    THEN SigningKeyError; nothing is installed."""
    root = forge_identity_channel(world, monkeypatch)
    fresh = tmp_path / "fresh-device"
    updater = Updater(str(world.mirror), fresh, root, model=MODEL, health_check=False)
    with pytest.raises(SigningKeyError, match="small-order"):
        updater.update()
    assert not (fresh / "current").exists()
    assert not list(fresh.glob("versions/*")) and not list(fresh.glob("downloads/*"))


def test_a_weak_key_object_passed_as_public_key_is_refused(
    sample_artifact: Path, tmp_path: Path
) -> None:
    """GIVEN a bundle 'signed' by the identity key without a private key
    WHEN it is opened with public_key=[the identity key object] (not bytes or a path)
    THEN SigningKeyError, as for the same key given as bytes; nothing is unpacked."""
    bundle = build_bundle(sample_artifact, ForgedSigner(), tmp_path / "evil", compresslevel=0)
    for given in ([identity_key()], IDENTITY):
        with pytest.raises(SigningKeyError, match="small-order"):
            open_bundle(bundle, public_key=given)
    assert sorted(p.name for p in bundle.parent.iterdir()) == [bundle.name]


# -- row 6: $PRECAST_PUBLIC_KEY means public_key= ------------------------------------------


def test_env_public_key_refuses_an_unsigned_directory_as_public_key_does(
    sample_artifact: Path, keypair: KeyPair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN an unsigned artifact directory named like a bundle (minilm-evil.pcb)
    WHEN edge.load(it) runs with PRECAST_PUBLIC_KEY=targets.pub, and with public_key=
    THEN both refuse it the same way: BundleVerificationError(check='signature')."""
    evil = tmp_path / "minilm-evil.pcb"
    shutil.copytree(sample_artifact, evil)
    with pytest.raises(BundleVerificationError) as by_argument:
        edge.load(evil, public_key=keypair.public_path)
    monkeypatch.setenv(PRECAST_PUBLIC_KEY.name, str(keypair.public_path))
    with pytest.raises(BundleVerificationError) as by_env:
        edge.load(evil)
    assert by_env.value.check == by_argument.value.check == "signature"
    assert str(by_env.value) == str(by_argument.value)


def test_env_public_key_checks_an_unpacked_bundle_directory(
    bundle_copy: Path, keypair: KeyPair, other_keypair: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN an unpacked bundle directory signed by one key
    WHEN edge.load(directory) runs with PRECAST_PUBLIC_KEY set to another key
    THEN BundleVerificationError(check='signature'), as public_key= would."""
    dest = open_bundle(bundle_copy, public_key=keypair.public)
    monkeypatch.setenv(PRECAST_PUBLIC_KEY.name, str(other_keypair.public_path))
    with pytest.raises(BundleVerificationError) as info:
        edge.load(dest)
    assert info.value.check == "signature"


# -- row 9: bounded gzip header fields ------------------------------------------------------

FIELD_BYTES = 4 << 20  # far past the limit; the stdlib scans such a name byte by byte


def gzip_with_field(path: Path, flag: str, size: int = FIELD_BYTES) -> Path:
    """A gzip member (RFC 1952) whose FNAME / FCOMMENT / FEXTRA field has ``size`` bytes,
    followed by a valid deflate body of an (empty) tar."""
    flags = {"FNAME": 0x08, "FCOMMENT": 0x10, "FEXTRA": 0x04}[flag]
    body = gzip.compress(b"\0" * 1024, mtime=0)[10:]  # deflate data + trailer
    header = b"\x1f\x8b\x08" + bytes([flags]) + b"\0\0\0\0\0\xff"
    if flag == "FEXTRA":
        size = min(size, 0xFFFF)
        field = size.to_bytes(2, "little") + b"x" * size
    else:
        field = b"x" * size + b"\0"
    path.write_bytes(header + field + body)
    return path


class CountingFile(io.FileIO):
    read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        CountingFile.read_bytes += len(data)
        return data


@pytest.mark.parametrize("flag", ["FNAME", "FCOMMENT", "FEXTRA"])
def test_oversized_gzip_header_field_is_refused_before_decompressing(
    tmp_path: Path, keypair: KeyPair, monkeypatch: pytest.MonkeyPatch, flag: str
) -> None:
    """GIVEN a .pcb whose gzip header carries a 4 MB file name or comment (or a 64 KB extra
    field)
    WHEN it is opened with public_key=
    THEN BundleVerificationError(check='archive') naming the field and the limit, after
    reading at most about the limit's bytes of the file."""
    import edge.bundle

    path = gzip_with_field(tmp_path / "hostile.pcb", flag)
    CountingFile.read_bytes = 0
    monkeypatch.setattr(edge.bundle, "open", lambda p, mode: CountingFile(p, "r"), raising=False)
    with pytest.raises(BundleVerificationError) as info:
        open_bundle(path, public_key=keypair.public_path)
    assert CountingFile.read_bytes <= 2 * MAX_GZIP_HEADER_FIELD_BYTES + 64
    assert info.value.check == "archive"
    assert flag in str(info.value) and str(MAX_GZIP_HEADER_FIELD_BYTES) in str(info.value)


def test_gzip_header_with_a_short_name_still_opens(
    sample_artifact: Path, keypair: KeyPair, tmp_path: Path
) -> None:
    """GIVEN a bundle re-compressed with a short FNAME and FCOMMENT in its gzip header
    WHEN it is opened
    THEN it verifies and unpacks as before (the check skips fields within the limit)."""
    plain = build_bundle(sample_artifact, keypair.seed, tmp_path / "plain", compresslevel=0)
    tar = plain.read_bytes()
    deflated = gzip.compress(tar, compresslevel=1, mtime=0)
    header = b"\x1f\x8b\x08\x18\0\0\0\0\0\xff" + b"bundle.tar\0" + b"made by hand\0"
    path = tmp_path / "named" / plain.name
    path.parent.mkdir()
    path.write_bytes(header + deflated[10:])
    with tarfile.open(path, "r:gz") as check:  # a well-formed gzip for the stdlib too
        assert check.getnames()[0] == "bundle.json"
    assert open_bundle(path, public_key=keypair.public_path).is_dir()


# -- row 11: thresholds apply to bundle.sig --------------------------------------------------


def test_bundle_signed_by_one_of_two_keys_needs_threshold_one(
    sample_artifact: Path, keypair: KeyPair, other_keypair: KeyPair, tmp_path: Path
) -> None:
    """GIVEN a bundle signed by one of two targets keys, and one signed by both
    WHEN each is opened with public_key=[both keys] (threshold defaults to all keys given)
    THEN the first is refused, BundleVerificationError(check='signature') naming the
    threshold, and opens only with threshold=1; the second opens."""
    one = build_bundle(sample_artifact, keypair.seed, tmp_path / "one", compresslevel=0)
    both_keys = [keypair.public_path, other_keypair.public_path]
    with pytest.raises(BundleVerificationError) as info:
        open_bundle(one, public_key=both_keys)
    assert info.value.check == "signature" and "threshold" in str(info.value)
    assert sorted(p.name for p in one.parent.iterdir()) == [one.name]
    with pytest.raises(BundleVerificationError):
        edge.load(one, public_key=both_keys)
    assert open_bundle(one, public_key=both_keys, threshold=1).is_dir()
    with pytest.raises(BundleVerificationError, match="threshold"):  # not reused from a stamp
        open_bundle(one, public_key=both_keys)
    signers = [keypair.seed, other_keypair.seed]
    two = build_bundle(sample_artifact, signers, tmp_path / "two", compresslevel=0)
    assert open_bundle(two, public_key=both_keys).is_dir()
    with pytest.raises(SigningKeyError, match="threshold 3"):
        open_bundle(two, public_key=both_keys, threshold=3)


def test_duplicate_signatures_by_one_key_do_not_meet_a_threshold(
    sample_artifact: Path, keypair: KeyPair, other_keypair: KeyPair, tmp_path: Path
) -> None:
    """GIVEN a bundle.sig carrying the same key's signature twice
    WHEN opened with two keys (threshold 2)
    THEN refused: signatures are counted per distinct key."""
    twice = build_bundle(
        sample_artifact, [keypair.seed, keypair.seed], tmp_path / "twice", compresslevel=0
    )
    both_keys = [keypair.public_path, other_keypair.public_path]
    with pytest.raises(BundleVerificationError, match="threshold"):
        open_bundle(twice, public_key=both_keys)


def _two_targets_keys(w: HostileChannel) -> list[Any]:
    """Rotate the channel to two targets keys, threshold 2 (as `precast keys --threshold
    targets=2` makes them)."""
    second = signing.generate_key(w.keys.directory, "targets-2")
    both = [w.keys.signers["targets"][0], second]
    w.repo().rotate(
        "targets", [s.public_key for s in both], w.keys.signers["root"],
        {**w.keys.signers, "targets": both}, threshold=2,
    )  # fmt: skip
    w.keys.signers["targets"] = both
    w.sync()
    return both


@BOTH
def test_channel_threshold_applies_to_bundle_sig(world: HostileChannel, transport: str) -> None:
    """GIVEN a channel whose root requires 2 of 2 targets keys, a device on its v1
    WHEN v2 is published with TUF metadata signed by both keys but a bundle.sig by one
    THEN BundleVerificationError(check='signature') naming the threshold; the device stays
    on v1. A v3 whose bundle.sig carries both signatures installs."""
    both = _two_targets_keys(world)
    assert world.update().status == "up-to-date"
    world.publish("v2", stamp(2))  # world.bundle signs bundle.sig with one key
    with pytest.raises(BundleVerificationError, match="threshold") as info:
        world.update()
    assert info.value.check == "signature"
    world.assert_stays_on("v1")
    artifact = world.make_variant("v3")
    path = build_bundle(artifact, both, world.root / "v3", created_at=stamp(3), compresslevel=0)
    custom = {"name": MODEL, "version": "v3", "created_at": stamp(3)}
    signers: dict[str, Sequence[Signer]] = {**world.keys.signers}
    world.repo().add_bundle(path, MODEL, custom, signers)
    world.sync()
    assert world.update().version == "v3"
    assert InstallLayout(world.install).version_of("current") == "v3"


@pytest.fixture
def project(tmp_path: Path, sample_artifact: Path, repo_root: Path) -> Path:
    """A project dir with the repo's precast.toml and the sample artifact as latest."""
    models = tmp_path / "artifacts" / "minilm"
    models.mkdir(parents=True)
    (models / sample_artifact.name).symlink_to(sample_artifact)
    (models / "latest").write_text(sample_artifact.name + "\n")
    (tmp_path / "precast.toml").write_text((repo_root / "precast.toml").read_text())
    return tmp_path


def test_precast_bundle_signs_with_every_targets_key(project: Path, tmp_path: Path) -> None:
    """GIVEN `precast keys --threshold targets=2`
    WHEN `precast bundle minilm` runs
    THEN its bundle.sig verifies under both targets keys together (threshold 2), and a
    device installs it from the channel."""
    from precast.cli import main

    def run(*argv: str) -> int:
        return main(["--config", str(project / "precast.toml"), *argv])

    assert run("keys", "--threshold", "targets=2") == 0
    keys = project / ".precast" / "keys"
    assert run("bundle", "minilm") == 0
    channel = project / "dist" / "bundles" / "minilm"
    (bundle,) = channel.glob("*.pcb")
    both = [keys / "targets.pub", keys / "targets-2.pub"]
    assert open_bundle(bundle, public_key=both, extract_to=tmp_path / "x").is_dir()
    for each in both:  # each key's own signature is there
        assert open_bundle(bundle, public_key=each, extract_to=tmp_path / each.stem).is_dir()
    updater = Updater(
        channel, tmp_path / "device", channel / "metadata" / "1.root.json", model=MODEL,
        health_check=False,
    )  # fmt: skip
    assert updater.update().status == "updated"

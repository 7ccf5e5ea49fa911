"""The device updater through a TUF channel: install, update, prune, health-check rejection,
rollback and its pin, downgrade refusal, bad channels, and the three transports (directory,
http on 127.0.0.1, s3 on moto_server)."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import edge
from edge.channel_repository import ChannelRepository
from edge.exceptions import (
    BundleVerificationError,
    ChannelVerificationError,
    HealthCheckError,
    UpdateError,
)
from edge.file_hash import sha256_file
from edge.install_layout import InstallLayout
from edge.updater import Updater

from .conftest import MODEL, KeyPair, Publisher, root_of


def stamp(n: int) -> str:
    return f"2026-01-01T00:00:{n:02d}+00:00"


def versions(install: Path) -> list[str]:
    return sorted(p.name for p in (install / "versions").iterdir())


def device(source: str | Path, install: Path, root: Path | None = None, **kw: Any) -> Updater:
    """The updater of a device pinned to minilm, trusting the channel's first root."""
    return Updater(source, install, root or root_of(Path(source)), model=MODEL, **kw)


@pytest.fixture
def channel(tmp_path: Path) -> Path:
    path = tmp_path / "channel"
    path.mkdir()
    return path


@pytest.fixture
def install(tmp_path: Path) -> Path:
    return tmp_path / "device"


def test_update_from_a_local_directory(
    channel: Path, install: Path, publish: Publisher, keypair: KeyPair
) -> None:
    """GIVEN an empty device and a directory channel publishing v1, then v2, then v3
    WHEN the updater checks and updates after each publish
    THEN current follows the newest, previous the one before, older versions are pruned,
    the health check passes on real smoke vectors, and nothing is left in downloads/."""
    publish(channel, "v1", stamp(1))
    updater = device(channel, install)
    assert updater.check().update_available
    first = updater.update()
    assert (first.status, first.version, first.previous) == ("updated", "v1", None)
    assert first.health is not None and first.health.passed and first.health.min_cosine > 0.99
    assert updater.check().update_available is False
    assert updater.update().status == "up-to-date"
    publish(channel, "v2", stamp(2))
    assert updater.update().previous == "v1"
    publish(channel, "v3", stamp(3))
    result = updater.update()
    assert (result.version, result.previous) == ("v3", "v2")
    assert versions(install) == ["v2", "v3"]
    assert list((install / "downloads").iterdir()) == []
    model = updater.load()
    assert model.version == "v3" and model.predict(["hello"]).shape == (1, model.manifest.dim)
    assert edge.load_current(install, keypair.public).version == "v3"


def test_failed_health_check_keeps_the_device_on_its_version(
    channel: Path, install: Path, publish: Publisher, keypair: KeyPair
) -> None:
    """GIVEN a device on v1 and a correctly signed v2 whose smoke vectors are wrong
    WHEN the device updates, updates again, and then forces a retry
    THEN the first raises HealthCheckError (cosine ~ -1 < 0.99) and current stays v1 with
    v2's files removed; the second is skipped as rejected; the forced retry fails again."""
    publish(channel, "v1", stamp(1))
    updater = device(channel, install)
    updater.update()
    publish(channel, "v2", stamp(2), smoke_scale=-1.0)
    with pytest.raises(HealthCheckError, match="stays on v1") as info:
        updater.update()
    assert info.value.version == "v2" and info.value.min_cosine is not None
    assert info.value.min_cosine < 0 and info.value.required == pytest.approx(0.99)
    assert updater.current_version == "v1" and versions(install) == ["v1"]
    assert updater.load().version == "v1"
    assert (
        "min smoke cosine" in json.loads((install / "rejected" / "v2.json").read_text())["reason"]
    )
    skipped = updater.update()
    assert skipped.status == "skipped" and "health check" in skipped.message
    assert updater.check().update_available is False
    with pytest.raises(HealthCheckError):
        updater.update(force=True)


def test_rollback_swaps_current_and_previous(
    channel: Path, install: Path, publish: Publisher, keypair: KeyPair
) -> None:
    """GIVEN a device updated v1 -> v2
    WHEN rollback() runs, then the next scheduled update, then unpin + update
    THEN current is v1 (previous v2) and pinned: the update does not reinstall v2 and check
    shows the pin; after unpin the update installs v2 again."""
    publish(channel, "v1", stamp(1))
    updater = device(channel, install, health_check=False)
    updater.update()
    publish(channel, "v2", stamp(2))
    updater.update()
    rolled = updater.rollback()
    assert (rolled.status, rolled.version, rolled.previous) == ("rolled-back", "v1", "v2")
    assert updater.load().version == "v1" and InstallLayout(install).version_of("previous") == "v2"
    held = updater.update()
    assert held.status == "skipped" and "pinned to v1" in held.message
    assert updater.check().pinned == "v1" and updater.current_version == "v1"
    updater.unpin()
    assert updater.update().version == "v2"
    assert updater.rollback().version == "v1"


def test_forced_retry_of_a_rejected_version_that_now_passes_clears_the_mark(
    channel: Path, install: Path, publish: Publisher, keypair: KeyPair
) -> None:
    """GIVEN a healthy v1 in the channel that the device once marked as rejected
    WHEN it updates, then updates with force
    THEN the first skips it, the forced one installs it and removes the rejection."""
    publish(channel, "v1", stamp(1))
    InstallLayout(install).reject("v1", "min smoke cosine 0.5 < 0.99 (an old runtime)")
    updater = device(channel, install)
    assert updater.update().status == "skipped"
    assert updater.update(force=True).version == "v1"
    assert InstallLayout(install).rejection("v1") is None


def test_older_bundle_is_a_refused_downgrade_unless_allowed(
    channel: Path, install: Path, publish: Publisher, keypair: KeyPair
) -> None:
    """GIVEN a device on a bundle created at t=5 and a channel that now offers one from t=1
    WHEN it updates, then updates with allow_downgrade
    THEN the first is skipped naming the dates, the second installs the older bundle."""
    publish(channel, "v5", stamp(5))
    device(channel, install, health_check=False).update()
    publish(channel, "v1", stamp(1))
    result = device(channel, install).update()
    assert result.status == "skipped" and "older" in result.message and result.version == "v5"
    lenient = device(channel, install, allow_downgrade=True, health_check=False)
    assert lenient.update().version == "v1"


def test_channel_faults_change_nothing(
    channel: Path,
    install: Path,
    publish: Publisher,
    keypair: KeyPair,
    other_keypair: KeyPair,
) -> None:
    """GIVEN a device on v1
    WHEN the channel's bundle file is swapped for another, or the device was given another
    channel's root, or the bundle inside carries a bundle.sig the channel's targets keys
    did not make
    THEN ChannelVerificationError (hash / signature) or BundleVerificationError, and
    current stays v1 with nothing left in downloads/."""
    publish(channel, "v1", stamp(1))
    updater = device(channel, install, health_check=False)
    updater.update()
    publish(channel, "v2", stamp(2))

    v2 = publish(channel, "v2", stamp(2))
    target = channel / "targets" / f"{sha256_file(v2)}.{MODEL}.pcb"
    original = target.read_bytes()
    target.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(ChannelVerificationError) as info:
        updater.update()
    assert info.value.check == "hash"
    assert list((install / "downloads").iterdir()) == []
    target.write_bytes(original)
    other = ChannelRepository(channel.parent / "other")  # a channel with other keys
    other.create(
        {r: [s.public_key for s in v] for r, v in other_keypair.signers.items()},
        other_keypair.signers,
    )
    with pytest.raises(ChannelVerificationError) as info:
        device(channel, install, root_of(other.root)).update()
    assert info.value.check == "signature"
    with pytest.raises(BundleVerificationError, match="signature"):
        edge.load_current(install, other_keypair.public)
    assert updater.current_version == "v1" and versions(install) == ["v1"]


def test_one_updater_at_a_time_and_clear_errors_without_an_install(
    channel: Path, install: Path, publish: Publisher, keypair: KeyPair
) -> None:
    """GIVEN an install dir whose update lock is held, and an empty install dir
    WHEN an update runs, and when the empty one is loaded
    THEN the update is refused as already running; the load says to run an update first;
    a missing channel or root file is an UpdateError saying what to pass."""
    publish(channel, "v1", stamp(1))
    with InstallLayout(install).locked(), pytest.raises(UpdateError, match="another update"):
        device(channel, install).update()
    with pytest.raises(UpdateError, match="precast edge update"):
        edge.load_current(install, keypair.public)
    with pytest.raises(UpdateError, match="does not exist|Failed to download"):
        device(install / "no-channel", install, root_of(channel)).update()
    with pytest.raises(UpdateError, match="trusted root"):
        device(channel, install, channel / "nope.json")


# -- http ----------------------------------------------------------------------------------


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


@contextmanager
def serve(directory: Path, handler: type[QuietHandler] = QuietHandler) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(directory))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.integration
def test_update_over_http(channel: Path, install: Path, publish: Publisher) -> None:
    """GIVEN a channel served by http.server on 127.0.0.1
    WHEN the device updates from its URL, then again after v2 is published
    THEN both install the published version; a presigned-style URL of one object is
    refused with an explanation."""
    publish(channel, "v1", stamp(1))
    with serve(channel.parent) as url:
        assert device(url + "channel/", install, root_of(channel)).update().version == "v1"
        publish(channel, "v2", stamp(2))
        result = device(url + "channel", install, root_of(channel)).update()
    assert (result.version, result.previous) == ("v2", "v1")
    with pytest.raises(UpdateError, match="names one object"):
        device(url + "channel/targets/x.pcb?X-Amz-Signature=1", install, root_of(channel))


# -- s3 ------------------------------------------------------------------------------------


@pytest.mark.integration
def test_update_from_s3_on_moto_server(
    moto_reset: str, channel: Path, install: Path, publish: Publisher, keypair: KeyPair
) -> None:
    """GIVEN a channel uploaded with `precast edge publish` to s3://models/bundles/minilm/ on
    a real moto_server
    WHEN the device updates from that URI, then after v2 is published and uploaded
    THEN v1 installs, then v2."""
    import boto3

    from precast.commands.edge_update import publish_channel

    boto3.client("s3").create_bucket(Bucket="models")
    publish(channel, "v1", stamp(1))
    publish_channel(channel, "s3://models/bundles/minilm/")
    updater = device("s3://models/bundles/minilm/", install, root_of(channel), health_check=False)
    assert updater.update().version == "v1"
    publish(channel, "v2", stamp(2))
    publish_channel(channel, "s3://models/bundles/minilm/")
    assert updater.update().version == "v2"
    assert updater.load().version == "v2"

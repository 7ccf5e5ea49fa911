"""The device updater: install, update, prune, health-check rejection, rollback, downgrade
refusal, bad channels, and the three sources (directory, http on 127.0.0.1, s3 on moto)."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import pytest

import edge
from edge.bundle_format import INDEX_NAME
from edge.exceptions import BundleVerificationError, DownloadError, HealthCheckError, UpdateError
from edge.install_layout import InstallLayout
from edge.updater import Updater

from .conftest import KeyPair, Publisher


def stamp(n: int) -> str:
    return f"2026-01-01T00:00:{n:02d}+00:00"


def versions(install: Path) -> list[str]:
    return sorted(p.name for p in (install / "versions").iterdir())


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
    updater = Updater(channel, install, keypair.public_path)
    publish(channel, "v1", stamp(1))
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
    updater = Updater(channel, install, keypair.public)
    publish(channel, "v1", stamp(1))
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
    WHEN rollback() is called twice
    THEN current is v1 (previous v2), then v2 again; loads follow the pointer."""
    updater = Updater(channel, install, keypair.public, health_check=False)
    publish(channel, "v1", stamp(1))
    updater.update()
    publish(channel, "v2", stamp(2))
    updater.update()
    rolled = updater.rollback()
    assert (rolled.status, rolled.version, rolled.previous) == ("rolled-back", "v1", "v2")
    assert updater.load().version == "v1" and InstallLayout(install).version_of("previous") == "v2"
    assert updater.rollback().version == "v2"


def test_forced_retry_of_a_rejected_version_that_now_passes_clears_the_mark(
    channel: Path, install: Path, publish: Publisher, keypair: KeyPair
) -> None:
    """GIVEN a healthy v1 in the channel that the device once marked as rejected
    WHEN it updates, then updates with force
    THEN the first skips it, the forced one installs it and removes the rejection."""
    publish(channel, "v1", stamp(1))
    InstallLayout(install).reject("v1", "min smoke cosine 0.5 < 0.99 (an old runtime)")
    updater = Updater(channel, install, keypair.public)
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
    Updater(channel, install, keypair.public, health_check=False).update()
    publish(channel, "v1", stamp(1))
    result = Updater(channel, install, keypair.public).update()
    assert result.status == "skipped" and "older" in result.message and result.version == "v5"
    lenient = Updater(channel, install, keypair.public, allow_downgrade=True, health_check=False)
    assert lenient.update().version == "v1"


def test_channel_faults_change_nothing(
    channel: Path,
    install: Path,
    publish: Publisher,
    keypair: KeyPair,
    other_keypair: KeyPair,
) -> None:
    """GIVEN a device on v1
    WHEN the index states a wrong sha256, names another version than the bundle holds, or
    the bundle is signed by a key the device does not trust
    THEN DownloadError / UpdateError / BundleVerificationError, and current stays v1."""
    updater = Updater(channel, install, keypair.public, health_check=False)
    publish(channel, "v1", stamp(1))
    updater.update()
    publish(channel, "v2", stamp(2))
    index = json.loads((channel / INDEX_NAME).read_text())
    (channel / INDEX_NAME).write_text(json.dumps({**index, "sha256": "0" * 64}))
    with pytest.raises(DownloadError, match="does not match"):
        updater.update()
    assert list((install / "downloads").iterdir()) == []
    (channel / INDEX_NAME).write_text(json.dumps({**index, "version": "v9"}))
    with pytest.raises(UpdateError, match="bundle holds"):
        updater.update()
    (channel / INDEX_NAME).write_text(json.dumps(index))
    with pytest.raises(BundleVerificationError, match="signature"):
        Updater(channel, install, other_keypair.public).update()
    assert updater.current_version == "v1" and versions(install) == ["v1"]


def test_one_updater_at_a_time_and_clear_errors_without_an_install(
    channel: Path, install: Path, publish: Publisher, keypair: KeyPair
) -> None:
    """GIVEN an install dir whose update lock is held, and an empty install dir
    WHEN an update runs, and when the empty one is loaded
    THEN the update is refused as already running; the load says to run an update first."""
    publish(channel, "v1", stamp(1))
    with InstallLayout(install).locked(), pytest.raises(UpdateError, match="another update"):
        Updater(channel, install, keypair.public).update()
    with pytest.raises(UpdateError, match="precast edge update"):
        edge.load_current(install, keypair.public)
    with pytest.raises(UpdateError, match="cannot read"):
        Updater(install / "no-channel", install, keypair.public).update()


# -- http ----------------------------------------------------------------------------------


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


class FlakyRangeHandler(QuietHandler):
    """Serves bundles with Range support; the first bundle GET breaks off halfway."""

    requests: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        if not self.path.endswith(".pcb"):
            return super().do_GET()
        data = Path(self.translate_path(self.path)).read_bytes()
        rng = self.headers.get("Range")
        first = not self.requests
        self.requests.append(rng)
        if rng:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            self.wfile.write(data[start:])
            return None
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2] if first else data)
        self.close_connection = True
        return None


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
def test_update_over_http(
    channel: Path, install: Path, publish: Publisher, keypair: KeyPair
) -> None:
    """GIVEN a channel served by http.server on 127.0.0.1
    WHEN the device updates from its URL, and from the URL of latest.json itself
    THEN both install the published version."""
    publish(channel, "v1", stamp(1))
    with serve(channel.parent) as url:
        assert Updater(url + "channel/", install, keypair.public).update().version == "v1"
        publish(channel, "v2", stamp(2))
        result = Updater(url + "channel/latest.json", install, keypair.public).update()
    assert (result.version, result.previous) == ("v2", "v1")


@pytest.mark.integration
def test_truncated_http_download_changes_nothing_then_resumes(
    channel: Path, install: Path, publish: Publisher, keypair: KeyPair
) -> None:
    """GIVEN a device on v1 and a server that breaks off the first bundle download halfway
    WHEN the device updates, then updates again
    THEN the first raises DownloadError saying truncated and how to resume, current stays
    v1 and the partial file is kept; the second asks for only the missing bytes
    (Range: bytes=<partial size>-) and installs v2."""
    publish(channel, "v1", stamp(1))
    Updater(channel, install, keypair.public, health_check=False).update()
    bundle = publish(channel, "v2", stamp(2))
    FlakyRangeHandler.requests = []
    with serve(channel, FlakyRangeHandler) as url:
        updater = Updater(url, install, keypair.public, health_check=False)
        with pytest.raises(DownloadError, match="truncated|broke off") as info:
            updater.update()
        assert "again" in str(info.value) or "resume" in str(info.value)
        assert updater.current_version == "v1" and versions(install) == ["v1"]
        (part,) = (install / "downloads").iterdir()
        kept = part.stat().st_size
        assert 0 < kept < bundle.stat().st_size
        assert updater.update().version == "v2"
    assert FlakyRangeHandler.requests == [None, f"bytes={kept}-"]
    assert updater.load().version == "v2"


# -- s3 ------------------------------------------------------------------------------------


@pytest.mark.integration
def test_update_from_s3_on_moto_server(
    moto_reset: str, channel: Path, install: Path, publish: Publisher, keypair: KeyPair
) -> None:
    """GIVEN a channel uploaded to s3://<bucket>/bundles/minilm/ on a real moto_server
    WHEN the device updates from that URI, and later resumes a half-downloaded v2
    THEN v1 installs, and v2 installs from the partial file with the rest fetched by Range."""
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="models")

    def upload() -> None:
        index = json.loads((channel / INDEX_NAME).read_text())
        s3.upload_file(
            str(channel / index["bundle"]), "models", f"bundles/minilm/{index['bundle']}"
        )
        s3.upload_file(str(channel / INDEX_NAME), "models", f"bundles/minilm/{INDEX_NAME}")

    publish(channel, "v1", stamp(1))
    upload()
    updater = Updater("s3://models/bundles/minilm/", install, keypair.public, health_check=False)
    assert updater.update().version == "v1"
    bundle = publish(channel, "v2", stamp(2))
    upload()
    index = json.loads((channel / INDEX_NAME).read_text())
    part = InstallLayout(install).download_path(index["sha256"])
    part.write_bytes(bundle.read_bytes()[:1000])
    assert updater.update().version == "v2"
    assert updater.load().version == "v2"

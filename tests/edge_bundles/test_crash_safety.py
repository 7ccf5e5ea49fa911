"""A device killed (SIGKILL) at any moment of an update still loads a complete, verified
version, and the next update run completes. Also: readers never fail during updates."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

import edge
from edge.bundle_format import verify_directory
from edge.install_layout import InstallLayout
from edge.session import SessionConfig
from edge.updater import Updater

from .conftest import MODEL, KeyPair, Publisher, root_of

# The child updates install_dir from channel, and SIGKILLs itself when the update reaches
# the step named by argv[4] (by wrapping the function that starts that step).
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import edge.bundle, edge.channel_fetcher, edge.install_layout, edge.updater

    channel, install, root, point = sys.argv[1:5]

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    def kill_on(link_name, real):
        def wrapper(link, target):
            if link.name == link_name:
                die()
            return real(link, target)
        return wrapper

    if point == "mid-download":  # the bundle's first chunk arrived, then the power went
        real_chunks = edge.channel_fetcher.file_chunks

        def dying_chunks(url, errors):
            chunks = real_chunks(url, errors)
            if not url.endswith(".pcb"):
                return chunks
            def gen():
                yield next(chunks)
                die()
            return gen()

        edge.channel_fetcher.file_chunks = dying_chunks
    elif point == "after-download":
        edge.updater.read_bundle_info = die
    elif point == "mid-extract":
        edge.bundle.fsync_tree = die
    elif point == "before-health":
        edge.updater.smoke_check = die
    elif point == "before-previous":
        edge.updater.replace_symlink = kill_on("previous", edge.updater.replace_symlink)
    elif point == "before-current":
        edge.updater.replace_symlink = kill_on("current", edge.updater.replace_symlink)
    elif point == "before-prune":
        edge.install_layout.InstallLayout.prune = die
    elif point.startswith("call:"):  # count or pause at the n-th call into edge's code
        pause_at = int(point.split(":")[1])
        edge_dir = os.path.dirname(edge.updater.__file__) + os.sep
        calls = 0

        def on_call(frame, event, arg):
            global calls
            if event != "call" or not frame.f_code.co_filename.startswith(edge_dir):
                return
            calls += 1
            if calls == pause_at:
                print(f"paused {calls} {frame.f_code.co_qualname}", flush=True)
                sys.stdin.readline()  # held here until the test kills this process

        sys.setprofile(on_call)
    edge.updater.Updater(channel, install, root, model="minilm").update()
    sys.setprofile(None)
    if point.startswith("call:"):
        print(f"done {calls}", flush=True)
    """
)
POINTS = [
    ("mid-download", "v1"),
    ("after-download", "v1"),
    ("mid-extract", "v1"),
    ("before-health", "v1"),
    ("before-previous", "v1"),
    ("before-current", "v1"),
    ("before-prune", "v2"),
]


def stamp(n: int) -> str:
    return f"2026-01-01T00:00:{n:02d}+00:00"


def _child(
    channel: Path, install: Path, point: str, *, stdout: int = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    root = root_of(channel)
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(channel), str(install), str(root), point],
        stdin=subprocess.PIPE,
        stdout=stdout,
        stderr=subprocess.PIPE,
    )


def _assert_complete_and_recovers(install: Path, keypair: KeyPair, expect: set[str]) -> None:
    """current is a whole verified version; a rerun finishes on v2 and leaves no debris."""
    layout = InstallLayout(install)
    current = layout.version_of("current")
    assert current in expect
    verify_directory(layout.version_dir(current), keypair.public)
    model = edge.load_current(install, keypair.public)
    assert model.version == current and model.predict(["hello"]).shape == (1, model.manifest.dim)
    channel = install.parent / "channel"
    updater = Updater(channel, install, root_of(channel), model=MODEL, health_check=False)
    assert updater.update().status in ("updated", "up-to-date")
    assert updater.current_version == "v2" and layout.version_of("previous") == "v1"
    assert sorted(p.name for p in (install / "versions").iterdir()) == ["v1", "v2"]
    assert not [p for p in install.iterdir() if ".tmp-" in p.name]
    assert list((install / "downloads").iterdir()) == []
    assert not [p for p in (install / "tuf").iterdir() if p.name.startswith("tmp")]


@pytest.fixture
def device_on_v1(tmp_path: Path, publish: Publisher, keypair: KeyPair) -> Path:
    """A device on v1 and a channel (tmp_path/channel) that now offers v2."""
    channel, install = tmp_path / "channel", tmp_path / "device"
    publish(channel, "v1", stamp(1))
    Updater(channel, install, root_of(channel), model=MODEL, health_check=False).update()
    publish(channel, "v2", stamp(2))
    return install


@pytest.mark.slow
@pytest.mark.crash
@pytest.mark.parametrize(("point", "survivor"), POINTS)
def test_sigkill_at_each_step_leaves_a_loadable_version(
    device_on_v1: Path, keypair: KeyPair, point: str, survivor: str
) -> None:
    """GIVEN a device on v1 and a channel offering v2
    WHEN an update process is SIGKILLed at a chosen step (download, verify = after the
    download, extract, health, swap = before either pointer swap, prune = after the swap)
    THEN current still names a complete verified version (v1 before the swap, v2 after),
    it loads and predicts, and rerunning the update completes on v2 without debris."""
    proc = _child(device_on_v1.parent / "channel", device_on_v1, point)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err.decode()
    _assert_complete_and_recovers(device_on_v1, keypair, {survivor})


def _calls_in_an_update(device_on_v1: Path, keypair: KeyPair, scratch: Path) -> int:
    """How many calls into edge's code one uninterrupted v1 -> v2 update makes (run on a
    copy of the device, so the device under test is still on v1)."""
    copy = scratch / "device-copy"
    shutil.copytree(device_on_v1, copy, symlinks=True)
    channel = device_on_v1.parent / "channel"
    proc = _child(channel, copy, "call:0", stdout=subprocess.PIPE)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    assert InstallLayout(copy).version_of("current") == "v2"
    (count,) = [int(line.split()[1]) for line in out.decode().splitlines() if "done" in line]
    return count


@pytest.mark.slow
@pytest.mark.crash
@pytest.mark.parametrize("fraction", [0.02, 0.2, 0.45, 0.7, 0.95])
def test_sigkill_at_an_arbitrary_moment(
    device_on_v1: Path, keypair: KeyPair, fraction: float, tmp_path: Path
) -> None:
    """GIVEN a device on v1 and a channel offering v2
    WHEN an update process is SIGKILLed at an arbitrary point of its own call sequence (the
    n-th call into edge's code, n a fraction of a whole update's calls)
    THEN the kill landed mid-update (the child was held at that call), current is v1 or v2,
    complete and verified, and a rerun completes on v2."""
    total = _calls_in_an_update(device_on_v1, keypair, tmp_path)
    nth = max(1, int(total * fraction))
    channel = device_on_v1.parent / "channel"
    proc = _child(channel, device_on_v1, f"call:{nth}", stdout=subprocess.PIPE)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()  # the child blocks right after printing it
    assert line.startswith(f"paused {nth} "), f"the update ended before call {nth} of {total}"
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err.decode()
    _assert_complete_and_recovers(device_on_v1, keypair, {"v1", "v2"})


class LoadCounter:
    """Loads finished per reader thread; the main thread waits on them (no sleeps)."""

    def __init__(self, readers: int) -> None:
        self.done = [0] * readers
        self.cond = threading.Condition()

    def finished(self, reader: int) -> None:
        with self.cond:
            self.done[reader] += 1
            self.cond.notify_all()

    def wait_for_fresh_loads(self, errors: list[BaseException], timeout: float = 120) -> None:
        """Block until every reader has finished two more loads: the second of them began
        after this call, so it saw what ``current`` names now. Bounded, not timed."""
        with self.cond:
            target = [n + 2 for n in self.done]
            ok = self.cond.wait_for(
                lambda: errors or all(d >= t for d, t in zip(self.done, target, strict=True)),
                timeout=timeout,
            )
        assert ok, "a reader made no progress"


@pytest.mark.slow
@pytest.mark.crash
def test_readers_never_fail_while_updates_swap(
    tmp_path: Path, publish: Publisher, keypair: KeyPair
) -> None:
    """GIVEN a device on v1 and two reader threads loading `current` and predicting in a loop
    WHEN three updates (v2, v3, v4) swap current and prune old versions underneath them,
    each next update starting once both readers have loaded after the last swap
    THEN no reader ever errs, every load is one of the published versions with the full
    vector, each reader saw every version from v2 on, and the device ends on v4."""
    channel, install = tmp_path / "channel", tmp_path / "device"
    publish(channel, "v1", stamp(1))
    Updater(channel, install, root_of(channel), model=MODEL, health_check=False).update()
    stop = threading.Event()
    seen: list[list[str]] = [[], []]
    errors: list[BaseException] = []
    loads = LoadCounter(readers=2)
    one_thread = SessionConfig(intra_op_threads=1)

    def reader(index: int) -> None:
        while not stop.is_set():
            try:
                model = edge.load_current(install, keypair.public, session_config=one_thread)
                vector = model.predict(["hello world"])
                assert vector.shape == (1, model.manifest.dim)
                assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-3
                seen[index].append(model.version)
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)
            loads.finished(index)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    try:
        loads.wait_for_fresh_loads(errors)
        for n, version in enumerate(["v2", "v3", "v4"], start=2):
            publish(channel, version, stamp(n))
            Updater(channel, install, root_of(channel), model=MODEL, health_check=False).update()
            loads.wait_for_fresh_loads(errors)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert errors == []
    for versions in seen:
        assert set(versions) <= {"v1", "v2", "v3", "v4"}
        assert {"v2", "v3", "v4"} <= set(versions)
        assert versions == sorted(versions), "a reader went back to an older version"
    assert edge.load_current(install, keypair.public).version == "v4"


def test_kill_points_cover_real_functions() -> None:
    """GIVEN the names the crash child patches
    WHEN they are looked up on the real modules
    THEN each exists, so a renamed step cannot silently turn a crash test into a no-op."""
    import edge.bundle
    import edge.channel_fetcher
    import edge.install_layout
    import edge.updater

    for module, name in [
        (edge.channel_fetcher, "file_chunks"),
        (edge.updater, "download_bundle"),
        (edge.updater, "read_bundle_info"),
        (edge.bundle, "fsync_tree"),
        (edge.updater, "smoke_check"),
        (edge.updater, "replace_symlink"),
        (edge.install_layout.InstallLayout, "prune"),
    ]:
        assert callable(getattr(module, name)), name

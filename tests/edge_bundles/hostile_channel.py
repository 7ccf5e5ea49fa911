"""A simulated hostile channel, shaped after python-tuf's tests/repository_simulator.py.

A legitimate publisher writes a TUF channel in ``publisher/``; ``sync()`` copies it to the
mirror the device polls, as `precast edge publish` would. Attacks then edit the mirror
(replay an old state, swap files, re-sign with stolen keys) or swap the HTTP handler that
serves it on 127.0.0.1 (endless data, a drip driven by the device's own clock calls).
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from edge.bundle import read_bundle_info
from edge.bundle_writer import build_bundle
from edge.channel_repository import ChannelRepository
from edge.install_layout import InstallLayout
from edge.update_source import DownloadLimits
from edge.updater import Updater
from precast.commands.edge_update import publish_channel

from .conftest import MODEL, KeyPair, VariantFactory


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


class TickClock:
    """An injected monotonic clock: each call advances one second and lets a dripping
    server send one more byte. No wall clock decides anything."""

    def __init__(self) -> None:
        self.now = 0.0
        self.ticks = threading.Semaphore(0)
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            self.now += 1.0
            self.ticks.release()
            return self.now


class DripHandler(QuietHandler):
    """Sends a bundle one byte per tick of ``clock`` (slow retrieval); metadata normally."""

    clock: ClassVar[TickClock]

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        if not self.path.endswith(".pcb"):
            return super().do_GET()
        data = Path(self.translate_path(self.path)).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        for i in range(len(data)):
            if not self.clock.ticks.acquire(timeout=60):  # the client went away
                return None
            try:
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
            except OSError:
                return None
        return None


class EndlessHandler(QuietHandler):
    """Answers ``endless_suffix`` URLs with a body that never ends (bounded at 1 GiB)."""

    endless_suffix: ClassVar[str] = ".pcb"
    sent: ClassVar[list[int]] = []
    finished: ClassVar[threading.Semaphore] = threading.Semaphore(0)  # one release per body

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        if not self.path.endswith(self.endless_suffix):
            return super().do_GET()
        self.send_response(200)
        self.end_headers()
        chunk, sent = b"\0" * (1 << 16), 0
        try:
            while sent < 1 << 30:
                self.wfile.write(chunk)
                sent += len(chunk)
        except OSError:
            pass
        self.sent.append(sent)
        self.finished.release()
        self.close_connection = True
        return None


@contextmanager
def serve(directory: Path, handler: type[QuietHandler] = QuietHandler) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(directory))
    )
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class HostileChannel:
    root: Path
    keys: KeyPair
    make_variant: VariantFactory
    transport: str  # "dir" or "http"
    handler: type[QuietHandler] = QuietHandler
    bundles: dict[str, Path] = field(default_factory=dict)

    @property
    def publisher(self) -> Path:
        return self.root / "publisher"

    @property
    def mirror(self) -> Path:
        return self.root / "mirror"

    @property
    def install(self) -> Path:
        return self.root / "device"

    def repo(self, **kw: Any) -> ChannelRepository:
        return ChannelRepository(self.publisher, **kw)

    def bundle(self, version: str, stamp: str, *, name: str = MODEL) -> Path:
        """A plain-tar bundle of a variant, signed by the current targets key."""

        def rename(doc: dict[str, Any]) -> None:
            doc["name"] = name

        artifact = self.make_variant(version, edit=rename)
        out = self.root / "built" / f"{name}-{version}"
        path = build_bundle(artifact, self.keys.seed, out, created_at=stamp, compresslevel=0)
        self.bundles[version] = path
        return path

    def publish(
        self,
        version: str,
        stamp: str,
        *,
        name: str = MODEL,
        target: str = MODEL,
        signers: dict[str, Any] | None = None,
        repo: ChannelRepository | None = None,
        sync: bool = True,
    ) -> Path:
        path = self.bundle(version, stamp, name=name)
        r = repo or self.repo()
        if not r.exists():
            keys = {k: [s.public_key for s in v] for k, v in self.keys.signers.items()}
            r.create(keys, self.keys.signers)
        info = read_bundle_info(path, self.keys.public)
        custom = {"name": info.name, "version": info.version, "created_at": info.created_at}
        r.add_bundle(path, target, custom, signers or self.keys.signers)
        if sync:
            self.sync()
        return path

    def sync(self) -> None:
        publish_channel(self.publisher, str(self.mirror))

    def save_mirror(self, name: str) -> Path:
        saved = self.root / "saved" / name
        shutil.copytree(self.mirror, saved)
        return saved

    def restore_mirror(self, saved: Path) -> None:
        shutil.rmtree(self.mirror)
        shutil.copytree(saved, self.mirror)

    @contextmanager
    def source(self) -> Iterator[str]:
        if self.transport == "dir":
            yield str(self.mirror)
            return
        with serve(self.mirror, self.handler) as url:
            yield url

    def update(self, *, limits: DownloadLimits | None = None, clock: Any = None) -> Any:
        with self.source() as src:
            kw: dict[str, Any] = {"limits": limits} if limits else {}
            if clock is not None:
                kw["clock"] = clock
            updater = Updater(
                src,
                self.install,
                self.publisher / "metadata" / "1.root.json",
                model=MODEL,
                health_check=False,
                **kw,
            )
            return updater.update()

    def assert_stays_on(self, version: str, others: Callable[[], list[str]] | None = None) -> None:
        """The device is on ``version``, loads it, and nothing of the refused run is left."""
        layout = InstallLayout(self.install)
        assert layout.version_of("current") == version
        kept = {version, layout.version_of("previous")} - {None}
        assert {p.name for p in layout.versions.iterdir()} == kept
        assert list((self.install / "downloads").iterdir()) == []
        leftovers = [
            p for p in self.install.rglob("*") if ".tmp-" in p.name or p.name.startswith("tmp")
        ]
        assert leftovers == []
        assert not [p for p in self.root.rglob("*") if p.name == "evil.txt"]


# -- servers that never finish their headers (issue 24: absolute deadline) ---------------


@contextmanager
def raw_server(respond: Callable[[Any], None]) -> Iterator[str]:
    """A TCP server on 127.0.0.1 that runs ``respond(connection)`` for each client (in a
    thread) instead of speaking HTTP; stops accepting and closes every connection on exit."""
    import socket

    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    conns: list[Any] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conns.append(conn)
            threading.Thread(target=respond, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        stop.set()
        listener.close()
        for conn in conns:
            conn.close()


def never_answer(conn: Any) -> None:
    """Accept, read the request, and say nothing (until the client hangs up)."""
    try:
        while conn.recv(4096):
            pass
    except OSError:
        pass


def drip_headers(conn: Any, interval_s: float = 0.2, max_bytes: int = 300) -> None:
    import time

    """A status line and an endless header, one byte per ``interval_s`` (a per-read
    timeout never fires), stopping after ``max_bytes`` so a stuck client is not kept
    forever."""
    payload = b"HTTP/1.1 200 OK\r\nX-Drip: " + b"a" * max_bytes
    for i in range(max_bytes):
        try:
            conn.sendall(payload[i : i + 1])
        except OSError:
            return
        time.sleep(interval_s)  # the attack's pace, not a synchronization

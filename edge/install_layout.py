"""The on-disk layout of an updatable install and how to open its current version.

See edge/updater.py for the layout. Pointers are relative symlinks (``current`` ->
``versions/<v>``) replaced with ``os.replace``, so readers resolve them once and always
get a whole version.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from edge.bundle import require_public_key
from edge.bundle_format import BUNDLE_JSON, is_plain_name, verify_directory
from edge.durable_fs import write_atomic
from edge.exceptions import UpdateError
from edge.model import EdgeModel, load_directory
from edge.session import SessionConfig

if TYPE_CHECKING:
    from edge.bundle import PublicKeys

POINTERS = ("current", "previous")
_LOAD_ATTEMPTS = 5


class InstallLayout:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.versions = root / "versions"

    def version_of(self, pointer: str) -> str | None:
        """The version a pointer names, or None if it does not exist."""
        try:
            target = str((self.root / pointer).readlink())
        except OSError:
            return None
        parent, _, name = target.rpartition("/")
        if parent != "versions" or not is_plain_name(name):
            raise UpdateError(f"{self.root / pointer} points at {target!r}, not versions/<v>")
        return name

    def version_dir(self, version: str) -> Path:
        return self.versions / version

    def download_path(self, sha256: str) -> Path:
        downloads = self.root / "downloads"
        downloads.mkdir(parents=True, exist_ok=True)
        return downloads / f"{sha256}.pcb"

    def pin(self) -> str | None:
        """The version an operator (or a rollback) holds this device on, if any."""
        try:
            text = (self.root / "pin").read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return text if is_plain_name(text) else None

    def set_pin(self, version: str | None) -> None:
        if version is None:
            (self.root / "pin").unlink(missing_ok=True)
        else:
            write_atomic(self.root / "pin", f"{version}\n".encode())

    def created_at(self, version: str) -> str | None:
        try:
            doc = json.loads((self.version_dir(version) / BUNDLE_JSON).read_bytes())
        except (OSError, ValueError):
            return None
        value = doc.get("created_at") if isinstance(doc, dict) else None
        return value if isinstance(value, str) else None

    def rejection(self, version: str) -> str | None:
        try:
            doc = json.loads((self.root / "rejected" / f"{version}.json").read_bytes())
        except (OSError, ValueError):
            return None
        return str(doc.get("reason", "rejected")) if isinstance(doc, dict) else "rejected"

    def reject(self, version: str, reason: str) -> None:
        (self.root / "rejected").mkdir(parents=True, exist_ok=True)
        doc = {"version": version, "reason": reason}
        write_atomic(self.root / "rejected" / f"{version}.json", json.dumps(doc).encode())

    def clear_rejection(self, version: str) -> None:
        (self.root / "rejected" / f"{version}.json").unlink(missing_ok=True)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """One updater per install_dir at a time (an advisory lock the OS drops on exit)."""
        self.versions.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory locks, run one updater
            yield
            return
        with open(self.root / ".update.lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UpdateError(f"another update of {self.root} is running") from None
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def clean_stale(self) -> None:
        """Remove what a crashed run left: temp directories, temp pointer links, and
        python-tuf's temporary metadata files."""
        for path in self.versions.glob(".*"):
            shutil.rmtree(path, ignore_errors=True)
        for path in [*self.root.glob(".*.tmp-*"), *(self.root / "tuf").glob("tmp*")]:
            path.unlink(missing_ok=True)

    def clean_downloads(self) -> None:
        """Drop any bundle a killed run downloaded but did not install (no resume: ngclient
        verifies a whole file, and a partial file from a hostile run is not worth keeping)."""
        downloads = self.root / "downloads"
        if downloads.is_dir():
            for path in downloads.iterdir():
                path.unlink(missing_ok=True)

    def prune(self) -> list[str]:
        """Delete every version that is neither current nor previous."""
        keep = {self.version_of(p) for p in POINTERS}
        removed = []
        for path in sorted(self.versions.iterdir()):
            if path.name not in keep and not path.name.startswith("."):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path.name)
        return removed


def load_current(
    install_dir: str | Path,
    public_key: PublicKeys | None = None,
    *,
    session_config: SessionConfig | None = None,
) -> EdgeModel:
    """Open the version ``install_dir/current`` points at, every file re-hashed against its
    bundle.json; with ``public_key`` (the targets key), bundle.sig is checked too. (What was
    installed was authenticated by the channel's TUF metadata when it was installed.)

    If an update swaps ``current`` (and prunes the old version) while this reads, it reads
    again: the result is always one whole version, never an error caused by the swap.
    """
    layout = InstallLayout(Path(install_dir))
    keys = require_public_key(public_key) if public_key is not None else None
    for _ in range(_LOAD_ATTEMPTS):
        version = layout.version_of("current")
        if version is None:
            raise UpdateError(
                f"nothing is installed in {install_dir}; run `precast edge update --source URI "
                f"--install-dir {install_dir} --root root.json --model NAME` first"
            )
        directory = layout.version_dir(version)
        try:
            verify_directory(directory, keys)
            return load_directory(directory, session_config=session_config, verify=False)
        except Exception:
            if layout.version_of("current") == version:
                raise  # not a race with an update: the installed version is broken
    raise UpdateError(f"{install_dir}/current kept changing while loading; try again")

"""Over-the-air updates for a device: download, verify, unpack, health-check, swap.

Layout of ``install_dir``::

    versions/<version>/   verified, unpacked bundles (artifact + bundle.json + bundle.sig)
    current  -> versions/<version>      the version every loader opens
    previous -> versions/<version>      the one before; kept for readers and rollback()
    downloads/<sha256>.part             an interrupted download, resumed next time
    rejected/<version>.json             versions that failed their health check

Every step before the swap writes only new names (a ``.part`` file, a temp directory
renamed to ``versions/<v>`` once fully verified and fsynced); the swap is one
``os.replace`` of a symlink. So a crash at any moment leaves ``current`` pointing at a
complete, verified version, and a rerun picks up where the last run stopped.

The health check runs *before* the swap: the new version is loaded and must reproduce its
manifest's smoke vectors (cosine >= ``smoke.min_cosine``). A version that fails never
becomes ``current``; it is recorded under ``rejected/`` and :class:`HealthCheckError` is
raised. :meth:`Updater.rollback` swaps back to ``previous`` on demand.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from edge.bundle import extract_bundle, read_bundle_info, require_public_key
from edge.bundle_format import BundleInfo, IndexEntry, verify_directory
from edge.durable_fs import replace_symlink
from edge.exceptions import ArtifactError, HealthCheckError, UpdateError
from edge.health import HealthReport, smoke_check
from edge.install_layout import InstallLayout, load_current
from edge.model import EdgeModel
from edge.session import SessionConfig
from edge.update_source import UpdateSource, download, open_source

__all__ = ["UpdateCheck", "UpdateResult", "Updater", "load_current"]


@dataclass(frozen=True)
class UpdateCheck:
    current: str | None
    available: IndexEntry
    update_available: bool
    reason: str


@dataclass(frozen=True)
class UpdateResult:
    """What the updater did. ``status``: updated | up-to-date | skipped | rolled-back."""

    status: str
    version: str | None
    previous: str | None
    message: str
    health: HealthReport | None = None


class Updater:
    """Keep ``install_dir`` on the newest signed bundle that ``source`` publishes."""

    def __init__(
        self,
        source: str | Path | UpdateSource | None,
        install_dir: str | Path,
        public_key: str | bytes | Path | None,
        *,
        health_check: bool = True,
        allow_downgrade: bool = False,
        session_config: SessionConfig | None = None,
    ) -> None:
        self._source = open_source(source) if isinstance(source, str | Path) else source
        self.layout = InstallLayout(Path(install_dir))
        self.public = require_public_key(public_key)
        self.health_check = health_check
        self.allow_downgrade = allow_downgrade
        self.session_config = session_config

    @property
    def source(self) -> UpdateSource:
        if self._source is None:
            raise UpdateError("this Updater has no source; pass one to check or update")
        return self._source

    @property
    def install_dir(self) -> Path:
        return self.layout.root

    @property
    def current_version(self) -> str | None:
        return self.layout.version_of("current")

    def load(self) -> EdgeModel:
        """The model ``current`` points at, re-verified with the public key."""
        return load_current(self.layout.root, self.public, session_config=self.session_config)

    def check(self) -> UpdateCheck:
        """Ask the source what is newest, and whether installing it would change anything."""
        entry = self.source.read_index()
        needed, reason = self._needed(entry, force=False)
        return UpdateCheck(self.current_version, entry, needed, reason)

    def update(self, *, force: bool = False) -> UpdateResult:
        """Install the source's newest bundle if it is new; ``force`` retries a rejected one."""
        with self.layout.locked():
            self.layout.clean_stale()
            entry = self.source.read_index()
            needed, reason = self._needed(entry, force=force)
            self.layout.clean_downloads(keep=entry.sha256 if needed else None)
            current = self.current_version
            if not needed:
                self.layout.prune()  # finishes a run that stopped between swap and prune
                status = "up-to-date" if entry.version == current else "skipped"
                return UpdateResult(status, current, self.layout.version_of("previous"), reason)
            part = download(self.source, entry, self.layout.download_path(entry.sha256))
            info = read_bundle_info(part, self.public)
            self._check_matches(entry, info, current)
            directory = self._unpack(part, info)
            health = self._health(directory, info) if self.health_check else None
            self._swap(info.version, current)
            part.unlink(missing_ok=True)
            self.layout.clear_rejection(info.version)  # a forced retry that now passes
            self.layout.prune()
            return UpdateResult(
                "updated",
                info.version,
                current,
                f"installed {info.name} {info.version} (was {current or 'nothing'})",
                health,
            )

    def rollback(self) -> UpdateResult:
        """Point ``current`` back at ``previous`` (and ``previous`` at what was current)."""
        with self.layout.locked():
            current, previous = self.current_version, self.layout.version_of("previous")
            if previous is None or current is None:
                raise UpdateError(f"{self.install_dir} has no previous version to roll back to")
            verify_directory(self.layout.version_dir(previous), self.public)
            self._swap(previous, current)
            return UpdateResult("rolled-back", previous, current, f"rolled back to {previous}")

    def _needed(self, entry: IndexEntry, *, force: bool) -> tuple[bool, str]:
        current = self.current_version
        if entry.version == current:
            return False, f"{entry.name} {entry.version} is already current"
        rejected = self.layout.rejection(entry.version)
        if rejected and not force:
            return False, f"{entry.version} failed its health check before ({rejected}); skipped"
        cur_created = self.layout.created_at(current) if current else None
        if cur_created and is_older(entry.created_at, cur_created) and not self.allow_downgrade:
            return False, (
                f"{entry.version} ({entry.created_at}) is older than current {current} "
                f"({cur_created}); pass allow_downgrade to install it"
            )
        return True, f"{entry.version} is available (current: {current or 'nothing'})"

    def _check_matches(self, entry: IndexEntry, info: BundleInfo, current: str | None) -> None:
        if (info.name, info.version) != (entry.name, entry.version):
            raise UpdateError(
                f"the index names {entry.name} {entry.version} but the bundle holds "
                f"{info.name} {info.version}; republish the channel"
            )
        cur_created = self.layout.created_at(current) if current else None
        if cur_created and is_older(info.created_at, cur_created) and not self.allow_downgrade:
            raise UpdateError(
                f"signed bundle {info.version} was created {info.created_at}, before current "
                f"{current} ({cur_created}); refusing a downgrade (allow_downgrade=True)"
            )

    def _unpack(self, part: Path, info: BundleInfo) -> Path:
        directory = self.layout.version_dir(info.version)
        if directory.is_dir():  # unpacked by an earlier run that stopped before the swap
            try:
                if verify_directory(directory, self.public).raw_json == info.raw_json:
                    return directory
            except ArtifactError:
                pass
            shutil.rmtree(directory)
        return extract_bundle(part, self.public, directory)

    def _health(self, directory: Path, info: BundleInfo) -> HealthReport:
        report = smoke_check(directory, self.session_config)
        if not report.passed:
            self.layout.reject(info.version, report.describe())
            if info.version not in (self.current_version, self.layout.version_of("previous")):
                shutil.rmtree(directory, ignore_errors=True)
            raise HealthCheckError(
                f"{info.name} {info.version} failed its health check ({report.describe()}); "
                f"the device stays on {self.current_version or 'nothing'}",
                version=info.version,
                min_cosine=report.min_cosine,
                required=report.required,
            )
        return report

    def _swap(self, version: str, current: str | None) -> None:
        if current is not None and current != version:
            replace_symlink(self.layout.root / "previous", f"versions/{current}")
        replace_symlink(self.layout.root / "current", f"versions/{version}")


def is_older(created_at: str, than: str) -> bool:
    """Whether ISO timestamp ``created_at`` is before ``than`` (unknown: no; not ISO: as text)."""
    if not created_at or not than:
        return False
    try:
        return datetime.fromisoformat(created_at) < datetime.fromisoformat(than)
    except (TypeError, ValueError):
        return created_at < than

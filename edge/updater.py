"""Over-the-air updates for a device: refresh (TUF), download, verify, extract, health, swap, prune.

Layout of ``install_dir``::

    tuf/                      python-tuf's trusted metadata (root history, timestamp, ...)
    versions/<version>/       verified, unpacked bundles (artifact + bundle.json + bundle.sig)
    current  -> versions/<version>      the version every loader opens
    previous -> versions/<version>      the one before; kept for readers and rollback()
    downloads/<sha256>.pcb    the bundle between its download and its extraction
    rejected/<version>.json   versions that failed their health check
    pin                       a version an operator (or a rollback) holds the device on

Trust comes from the channel's TUF metadata: ``tuf.ngclient.Updater`` starts from the root
the device was provisioned with (``trusted_root``), follows root rotations, and refuses
rollback, freeze (expiry), mix-and-match and endless data with its own checks; metadata of
another channel signed by the same keys is refused as it arrives (edge/channel_binding.py,
``check="channel"``); the device
asks for one target only, ``<model>.pcb`` (the pinned model), and the bundle inside must
name that model too. The bundle is parsed only after its signed length and sha256 match;
then its own ``bundle.sig`` is checked with the channel's current targets keys.

Every step before the swap writes only new names, the swap is one ``os.replace`` of a
symlink, and every run first removes what a killed run left. The health check runs
*before* the swap: a version that fails never becomes ``current``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge import signing
from edge.bundle import extract_bundle, read_bundle_info
from edge.bundle_format import BundleInfo, TrustedKeys, is_plain_name, verify_directory
from edge.channel_repository import METADATA_DIR, TARGETS_DIR, target_path
from edge.durable_fs import replace_symlink
from edge.exceptions import (
    ArtifactError,
    ChannelVerificationError,
    DownloadError,
    DownloadTooLargeError,
    HealthCheckError,
    ModelPinError,
    PrecastError,
    SlowRetrievalError,
    UpdateError,
)
from edge.health import HealthReport, smoke_check
from edge.install_layout import InstallLayout, load_current
from edge.model import EdgeModel
from edge.session import SessionConfig
from edge.update_source import DownloadLimits, channel_url

if TYPE_CHECKING:
    from securesystemslib.signer import Key
    from tuf.api.metadata import TargetFile
    from tuf.ngclient import Updater as TufUpdater
    from tuf.ngclient.fetcher import FetcherInterface

__all__ = ["DownloadLimits", "UpdateCheck", "UpdateResult", "Updater", "load_current"]


@dataclass(frozen=True)
class Offer:
    """What the channel's verified targets metadata says about the pinned model."""

    name: str
    version: str
    created_at: str
    length: int
    sha256: str


@dataclass(frozen=True)
class RoleExpiry:
    """One role of the metadata the device trusts: its version and when it expires."""

    role: str
    version: int
    expires: datetime


@dataclass(frozen=True)
class UpdateCheck:
    current: str | None
    available: Offer
    update_available: bool
    reason: str
    pinned: str | None = None
    roles: tuple[RoleExpiry, ...] = ()
    channel: str | None = None


@dataclass(frozen=True)
class UpdateResult:
    """What the updater did. ``status``: updated | up-to-date | skipped | rolled-back."""

    status: str
    version: str | None
    previous: str | None
    message: str
    health: HealthReport | None = None


class Updater:
    """Keep ``install_dir`` on the newest bundle of ``model`` that the channel's TUF
    metadata (trusted from ``trusted_root``: a root.json path or its bytes) offers."""

    def __init__(
        self,
        source: str | Path | None,
        install_dir: str | Path,
        trusted_root: str | Path | bytes,
        *,
        model: str,
        health_check: bool = True,
        allow_downgrade: bool = False,
        session_config: SessionConfig | None = None,
        limits: DownloadLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        """``clock`` (monotonic seconds) bounds downloads; ``now`` (the UTC date) is what
        metadata expiry is judged against (default: the system clock, as ngclient's)."""
        if not is_plain_name(model):
            raise UpdateError(f"model {model!r} is not a plain model name (e.g. minilm)")
        self._url = channel_url(source) if source is not None else None
        self.layout = InstallLayout(Path(install_dir))
        self._root = _read_root(trusted_root)
        self.model = model
        self.health_check = health_check
        self.allow_downgrade = allow_downgrade
        self.session_config = session_config
        self.limits = limits or DownloadLimits()
        self.clock = clock
        self.now = now or (lambda: datetime.now(UTC))

    @property
    def source(self) -> str:
        if self._url is None:
            raise UpdateError("this Updater has no source; pass one to check or update")
        return self._url

    @property
    def install_dir(self) -> Path:
        return self.layout.root

    @property
    def current_version(self) -> str | None:
        return self.layout.version_of("current")

    def load(self) -> EdgeModel:
        """The model ``current`` points at, its files re-hashed against its bundle.json."""
        return load_current(self.layout.root, session_config=self.session_config)

    def check(self) -> UpdateCheck:
        """Refresh the channel's metadata and say whether installing would change anything."""
        with self.layout.locked():
            self.layout.clean_stale()
            _, target = self._refresh()
            offer = _offer(target, self.model)
            needed, reason = self._needed(offer, force=False)
            return UpdateCheck(
                self.current_version,
                offer,
                needed,
                reason,
                self.layout.pin(),
                self.trusted_roles(),
                self.channel,
            )

    @property
    def channel(self) -> str | None:
        """The channel identity this device pins (from its given root; None: an older
        channel without one, nothing pinned)."""
        from edge.channel_binding import pinned_identity

        return pinned_identity(self._root)

    def trusted_roles(self) -> tuple[RoleExpiry, ...]:
        """Version and expiry of each top-level role the device trusts now (after a
        refresh), read from the metadata ngclient keeps in ``tuf/``."""
        from tuf.api.metadata import Metadata

        out = []
        for role in ("root", "targets", "snapshot", "timestamp"):
            path = self._tuf_dir / f"{role}.json"
            if path.is_file():
                signed = Metadata.from_bytes(path.read_bytes()).signed
                out.append(RoleExpiry(role, int(signed.version), signed.expires))
        return tuple(out)

    def update(self, *, force: bool = False) -> UpdateResult:
        """Install the channel's bundle of ``model`` if it is new; ``force`` retries a
        rejected one (a pin still holds: `unpin` first)."""
        with self.layout.locked():
            self.layout.clean_stale()
            self.layout.clean_downloads()
            tuf, target = self._refresh()
            offer = _offer(target, self.model)
            needed, reason = self._needed(offer, force=force)
            current = self.current_version
            if not needed:
                self.layout.prune()  # finishes a run that stopped between swap and prune
                status = "up-to-date" if offer.version == current else "skipped"
                return UpdateResult(status, current, self.layout.version_of("previous"), reason)
            part = self.layout.download_path(offer.sha256)
            try:
                download_bundle(tuf, target, part, self.source)
                info = read_bundle_info(part, self.bundle_keys())
                self._check_matches(offer, info, current)
                directory = self._unpack(part, info)
                health = self._health(directory, info) if self.health_check else None
            finally:
                part.unlink(missing_ok=True)
            self._swap(info.version, current)
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
        """Point ``current`` back at ``previous`` and pin it, so the next scheduled update
        does not reinstall the version just fled (``unpin`` lifts it)."""
        with self.layout.locked():
            current, previous = self.current_version, self.layout.version_of("previous")
            if previous is None or current is None:
                raise UpdateError(f"{self.install_dir} has no previous version to roll back to")
            verify_directory(self.layout.version_dir(previous), None)
            self._swap(previous, current)
            self.layout.set_pin(previous)
            return UpdateResult(
                "rolled-back",
                previous,
                current,
                f"rolled back to {previous} and pinned it; `precast edge unpin` to follow "
                "the channel again",
            )

    def unpin(self) -> None:
        with self.layout.locked():
            self.layout.set_pin(None)

    def bundle_keys(self) -> list[Key]:
        """The targets keys of the newest root the device trusts (they sign bundle.sig), with
        the targets role's threshold (edge.bundle_format.TrustedKeys); weak keys refused."""
        from tuf.api.metadata import Metadata, Root

        root = Metadata[Root].from_bytes((self._tuf_dir / "root.json").read_bytes()).signed
        role = root.roles["targets"]
        keys = [signing.check_key(root.keys[k], "targets key") for k in role.keyids]
        return TrustedKeys(keys, role.threshold)

    @property
    def _tuf_dir(self) -> Path:
        return self.layout.root / "tuf"

    def _refresh(self) -> tuple[TufUpdater, TargetFile]:
        """TUF's refresh (root -> timestamp -> snapshot -> targets), then the pinned target."""
        from tuf.ngclient import Updater as TufUpdater
        from tuf.ngclient import UpdaterConfig

        from edge.channel_fetcher import ChannelFetcher

        self._tuf_dir.mkdir(parents=True, exist_ok=True)
        signing.check_tuf_keys()  # weak keys refused in every root python-tuf reads
        metadata_url = self.source + f"{METADATA_DIR}/"
        fetcher: FetcherInterface = ChannelFetcher(self.limits, self.clock)
        identity = self.channel
        if identity is not None:
            from edge.channel_binding import ChannelBoundFetcher

            fetcher = ChannelBoundFetcher(fetcher, identity, metadata_url)
        with tuf_errors(self.source):
            tuf = TufUpdater(
                str(self._tuf_dir),
                metadata_url,
                target_base_url=self.source + f"{TARGETS_DIR}/",
                fetcher=fetcher,
                config=UpdaterConfig(app_user_agent="precast"),
                bootstrap=self._root,
            )
            # ngclient judges expiry against the time its trusted set was made (no public
            # hook); set it from ``now`` so a device's date is injectable like its clock
            tuf._trusted_set.reference_time = self.now()
            tuf.refresh()
            target = tuf.get_targetinfo(target_path(self.model))
        if target is None:
            raise ModelPinError(
                f"the channel {self.source} offers no {target_path(self.model)}: this device "
                f"is pinned to model {self.model!r}; check --source and --model"
            )
        return tuf, target

    def _needed(self, offer: Offer, *, force: bool) -> tuple[bool, str]:
        current = self.current_version
        if offer.version == current:
            return False, f"{offer.name} {offer.version} is already current"
        pin = self.layout.pin()
        if pin is not None and offer.version != pin:
            return False, (
                f"pinned to {pin} (after a rollback or by an operator); the channel offers "
                f"{offer.version}. `precast edge unpin` to follow the channel again"
            )
        rejected = self.layout.rejection(offer.version)
        if rejected and not force:
            return False, f"{offer.version} failed its health check before ({rejected}); skipped"
        cur_created = self.layout.created_at(current) if current else None
        if cur_created and is_older(offer.created_at, cur_created) and not self.allow_downgrade:
            return False, (
                f"{offer.version} ({offer.created_at}) is older than current {current} "
                f"({cur_created}); pass allow_downgrade to install it"
            )
        return True, f"{offer.version} is available (current: {current or 'nothing'})"

    def _check_matches(self, offer: Offer, info: BundleInfo, current: str | None) -> None:
        if info.name != self.model:
            raise ModelPinError(
                f"the channel's {target_path(self.model)} holds a bundle of model "
                f"{info.name!r}; this device is pinned to {self.model!r}. Refused."
            )
        if info.version != offer.version:
            raise ChannelVerificationError(
                f"the targets metadata says {offer.version} but the bundle holds "
                f"{info.version}; republish the channel",
                check="format",
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
                if verify_directory(directory, self.bundle_keys()).raw_json == info.raw_json:
                    return directory
            except ArtifactError:
                pass
            shutil.rmtree(directory)
        return extract_bundle(part, self.bundle_keys(), directory)

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


def download_bundle(tuf: TufUpdater, target: TargetFile, part: Path, source: str) -> Path:
    """ngclient's download_target: at most the signed length, then length + sha256 checked."""
    with tuf_errors(source):
        tuf.download_target(target, str(part))
    return part


def _offer(target: TargetFile, model: str) -> Offer:
    custom = target.custom if isinstance(target.custom, dict) else {}
    version, created = custom.get("version"), custom.get("created_at", "")
    if not isinstance(version, str) or not is_plain_name(version):
        raise ChannelVerificationError(
            f"the channel's {target.path} names no plain 'version' in its custom metadata",
            check="format",
        )
    return Offer(model, version, str(created), target.length, str(target.hashes.get("sha256")))


def _read_root(value: str | Path | bytes) -> bytes:
    if isinstance(value, bytes):
        return value
    try:
        return Path(value).read_bytes()
    except OSError as exc:
        raise UpdateError(
            f"cannot read the trusted root {value} ({exc}); provision the device with the "
            "channel's metadata/1.root.json (or root.json) from `precast bundle`"
        ) from None


_CHECKS = (
    ("ExpiredMetadataError", "expired"),
    ("BadVersionNumberError", "rollback"),
    ("UnsignedMetadataError", "signature"),
    ("LengthOrHashMismatchError", "hash"),
)


@contextmanager
def tuf_errors(source: str) -> Iterator[None]:
    """python-tuf's exceptions as precast's, each naming the attack it stopped."""
    from tuf.api import exceptions as tuf_exc

    try:
        yield
    except tuf_exc.RepositoryError as exc:
        if isinstance(exc.__cause__, PrecastError):  # e.g. a weak key in a root: SigningKeyError
            raise exc.__cause__ from None
        check = next((c for name, c in _CHECKS if _is(exc, name)), "format")
        raise ChannelVerificationError(
            f"channel {source} refused ({check}): {exc}; the device stays on its current version",
            check=check,
        ) from None
    except tuf_exc.SlowRetrievalError as exc:
        limit = str(exc).split(":", 1)[0]
        raise SlowRetrievalError(
            f"{exc}; nothing was kept, the next run starts over", limit=limit
        ) from None
    except tuf_exc.DownloadLengthMismatchError as exc:
        raise DownloadTooLargeError(
            f"{source}: {exc}; the server sent more than the signed length (refused)"
        ) from None
    except tuf_exc.DownloadError as exc:
        if isinstance(exc.__cause__, PrecastError):
            raise exc.__cause__ from None
        raise DownloadError(f"{source}: {exc} ({exc.__cause__ or 'no detail'})") from None
    except (OSError, ValueError) as exc:  # a local file the fetcher could not read
        raise DownloadError(f"{source}: {exc}") from None


def _is(exc: Any, name: str) -> bool:
    return any(cls.__name__ == name for cls in type(exc).__mro__)


def is_older(created_at: str, than: str) -> bool:
    """Whether ISO timestamp ``created_at`` is before ``than`` (unknown: no; not ISO: as text)."""
    if not created_at or not than:
        return False
    try:
        return datetime.fromisoformat(created_at) < datetime.fromisoformat(than)
    except (TypeError, ValueError):
        return created_at < than

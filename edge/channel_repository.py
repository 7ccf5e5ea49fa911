"""Publish a channel: a TUF repository whose targets are signed bundles (build host).

Layout of a channel directory (what a web server, a CDN or ``s3://.../bundles/<model>/``
serves, read-only for devices)::

    metadata/<n>.root.json        every root version (devices walk them to follow rotations)
    metadata/root.json            a copy of the newest root (what a new device is given)
    metadata/<n>.targets.json     targets: <model>.pcb -> length, sha256, version, created_at
    metadata/<n>.snapshot.json    snapshot: the targets version (no mix-and-match)
    metadata/timestamp.json       timestamp: the snapshot version (short expiry: no freeze)
    targets/<sha256>.<model>.pcb  the bundles, content-addressed (consistent snapshots)

Metadata is made with python-tuf's ``tuf.api.metadata`` and signed with securesystemslib
signers (``edge.signing``). Every write creates a new name, except ``timestamp.json`` and
``root.json``, written last, so a device never sees metadata naming a file that is not
there; :func:`publish_order` lists the files in the order to upload them.

A channel has an identity, ``<model>/<channel name>`` (``minilm/production``), carried in
the signed part of every metadata file as :data:`CHANNEL_FIELD`; a device pins the identity
of the root it was given and refuses metadata of any other channel signed by the same keys
(edge/channel_binding.py). Channels made before identities existed carry none.

:meth:`ChannelRepository.refresh` keeps a channel alive: it re-signs every role that
expires within its margin (:data:`DEFAULT_RENEW_MARGIN`) and says when root must be renewed.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.durable_fs import atomic_file, write_atomic
from edge.exceptions import UpdateError

if TYPE_CHECKING:
    from securesystemslib.signer import Key, Signer
    from tuf.api.metadata import Metadata, Root, Signed, Snapshot, TargetFile, Targets, Timestamp

METADATA_DIR = "metadata"
TARGETS_DIR = "targets"
BUNDLE_TARGET_SUFFIX = ".pcb"
ROLES = ("root", "targets", "snapshot", "timestamp")
DEFAULT_EXPIRY = {
    "root": timedelta(days=365),
    "targets": timedelta(days=90),
    "snapshot": timedelta(days=7),
    "timestamp": timedelta(days=1),
}
# refresh re-signs targets / snapshot once they expire within this margin (the timestamp is
# re-signed on every refresh), and warns this far ahead of root's expiry (root.key is
# offline: renewing it is explicit)
DEFAULT_RENEW_MARGIN = {
    "root": timedelta(days=60),
    "targets": timedelta(days=14),
    "snapshot": timedelta(days=3),
}
CHANNEL_FIELD = "x-precast-channel"  # the channel identity in every signed metadata file
DEFAULT_CHANNEL_NAME = "production"
CHANNEL_NAME_PATTERN = r"[a-z0-9][a-z0-9-]{0,31}"
_CHANNEL_NAME_RE = re.compile(CHANNEL_NAME_PATTERN)


def check_channel_name(name: str) -> str:
    """``name`` if it is a channel name (``production``, ``staging``, ``canary-eu``)."""
    if not _CHANNEL_NAME_RE.fullmatch(name):
        raise UpdateError(
            f"channel name {name!r} is not allowed: lowercase letters, digits and '-', "
            "at most 32 characters (e.g. production, staging)"
        )
    return name


def channel_identity(model: str, name: str = DEFAULT_CHANNEL_NAME) -> str:
    """What a channel's metadata says it is, and what a device pins: ``<model>/<name>``."""
    return f"{model}/{check_channel_name(name)}"


def channel_directory(dist_dir: Path, model: str, name: str = DEFAULT_CHANNEL_NAME) -> Path:
    """Where `precast bundle` keeps a channel: ``<dist>/bundles/<model>/`` for production,
    ``<dist>/bundles/<model>@<name>/`` for any other (``minilm@staging``)."""
    check_channel_name(name)
    return dist_dir / "bundles" / (model if name == DEFAULT_CHANNEL_NAME else f"{model}@{name}")


def channel_of(signed: Signed) -> str | None:
    """The channel identity a metadata file's signed part carries (None: an older channel)."""
    value = signed.unrecognized_fields.get(CHANNEL_FIELD)
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class RoleState:
    """One role after :meth:`ChannelRepository.refresh`: its version and expiry, what
    refresh did (``re-signed``, ``renewed``, ``kept``) and a warning when one is due."""

    role: str
    version: int
    expires: datetime
    action: str
    warning: str | None = None

    def describe(self) -> str:
        when = self.expires.isoformat()
        text = f"{self.role:<9} v{self.version:<5} expires {when}  {self.action}"
        return text + (f"  WARNING: {self.warning}" if self.warning else "")


def target_path(model: str) -> str:
    """The one target path of ``model`` in a channel: what a device pins."""
    return f"{model}{BUNDLE_TARGET_SUFFIX}"


@dataclass
class ChannelRepository:
    """A channel directory. ``now`` is injectable so tests can make metadata that expires."""

    root: Path
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    expiry: dict[str, timedelta] = field(default_factory=lambda: dict(DEFAULT_EXPIRY))
    margin: dict[str, timedelta] = field(default_factory=lambda: dict(DEFAULT_RENEW_MARGIN))

    @property
    def metadata_dir(self) -> Path:
        return self.root / METADATA_DIR

    @property
    def targets_dir(self) -> Path:
        return self.root / TARGETS_DIR

    def exists(self) -> bool:
        return (self.metadata_dir / "root.json").is_file()

    def _expires(self, role: str) -> datetime:
        return (self.now() + self.expiry[role]).replace(microsecond=0)

    # --- reading the current state ----------------------------------------------------

    def load_root(self) -> Metadata[Root]:
        root: Metadata[Root] = self._read("root.json")
        return root

    def load_timestamp(self) -> Metadata[Timestamp]:
        timestamp: Metadata[Timestamp] = self._read("timestamp.json")
        return timestamp

    def load_snapshot(self) -> Metadata[Snapshot]:
        version = self.load_timestamp().signed.snapshot_meta.version
        snapshot: Metadata[Snapshot] = self._read(f"{version}.snapshot.json")
        return snapshot

    def load_targets(self) -> Metadata[Targets]:
        version = self.load_snapshot().signed.meta["targets.json"].version
        targets: Metadata[Targets] = self._read(f"{version}.targets.json")
        return targets

    @property
    def identity(self) -> str | None:
        """The channel identity its root carries (None for a channel made before them)."""
        return channel_of(self.load_root().signed)

    def _read(self, name: str) -> Any:
        from tuf.api.metadata import Metadata

        path = self.metadata_dir / name
        try:
            return Metadata.from_bytes(path.read_bytes())
        except FileNotFoundError:
            raise UpdateError(
                f"{path} does not exist: {self.root} is not a channel yet; "
                "`precast bundle MODEL` creates it"
            ) from None

    # --- writing ----------------------------------------------------------------------

    def create(
        self,
        keys: Mapping[str, Sequence[Key]],
        signers: Mapping[str, Sequence[Signer]],
        *,
        thresholds: Mapping[str, int] | None = None,
        identity: str | None = None,
    ) -> None:
        """A new channel: root v1 trusting ``keys`` per role, empty targets, snapshot,
        timestamp, each carrying ``identity`` (:func:`channel_identity`) when given.
        Refuses to replace an existing channel (devices trust its root)."""
        from tuf.api.metadata import Metadata, Root, Targets

        if self.exists():
            raise UpdateError(f"{self.root} is already a channel; rotate keys instead")
        root = Root(expires=self._expires("root"), consistent_snapshot=True)
        if identity is not None:
            root.unrecognized_fields[CHANNEL_FIELD] = identity
        for role, role_keys in keys.items():
            for key in role_keys:
                root.add_key(key, role)
            root.roles[role].threshold = (thresholds or {}).get(role, 1)
        self._write_root(Metadata(root), signers["root"])
        targets = Metadata(Targets(expires=self._expires("targets")))
        self._commit(targets, signers)

    def add_bundle(
        self,
        bundle: Path,
        model: str,
        custom: dict[str, Any],
        signers: Mapping[str, Sequence[Signer]],
    ) -> str:
        """Make ``bundle`` the target ``<model>.pcb``; return its path under the channel."""
        info = self._store(bundle, target_path(model), {"custom": custom})
        stored = self.stored_path(info)
        targets = self.load_targets()
        if targets.signed.targets.get(info.path) == info:
            return f"{TARGETS_DIR}/{stored.name}"  # already the target: the channel is unchanged
        targets.signed.targets[info.path] = info
        self._commit(targets, signers)
        return f"{TARGETS_DIR}/{stored.name}"

    def stored_path(self, info: TargetFile) -> Path:
        """Where the channel keeps target ``info`` (content-addressed)."""
        return self.targets_dir / f"{info.hashes['sha256']}.{info.path}"

    def _store(self, bundle: Path, path: str, fields: Mapping[str, Any]) -> TargetFile:
        from tuf.api.metadata import TargetFile

        info = TargetFile.from_file(path, str(bundle), ["sha256"])
        info.unrecognized_fields.update(fields)
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        stored = self.stored_path(info)
        if not stored.is_file():
            with atomic_file(stored) as out, open(bundle, "rb") as src:
                shutil.copyfileobj(src, out)
        return info

    def refresh(
        self,
        signers: Mapping[str, Sequence[Signer]],
        *,
        root_signers: Sequence[Signer] | None = None,
    ) -> list[RoleState]:
        """Keep the channel alive without a new bundle: re-sign targets and snapshot when
        they expire within their margin (a new version of each), the timestamp always;
        renew root (a new version, same keys) when ``root_signers`` are given, else warn
        once root expires within its margin. Returns each role's state, root first."""
        now = self.now()
        renewed = False
        root = self.load_root()
        if root_signers:
            root.signed.version += 1
            root.signed.expires = self._expires("root")
            self._write_root(root, root_signers)
            renewed = True
        targets = self.load_targets()
        resign_targets = self._due(targets.signed, "targets", now)
        resign_snapshot = resign_targets or self._due(self.load_snapshot().signed, "snapshot", now)
        if resign_snapshot:
            self._commit(targets if resign_targets else None, signers)
        else:
            self._write_timestamp(self.load_snapshot(), _role(signers, "timestamp"))
        done = {
            "root": renewed,
            "targets": resign_targets,
            "snapshot": resign_snapshot,
            "timestamp": True,
        }
        return [self._state(role, done[role], now) for role in ROLES]

    def _due(self, signed: Signed, role: str, now: datetime) -> bool:
        return bool(signed.expires - now <= self.margin[role])

    def _state(self, role: str, done: bool, now: datetime) -> RoleState:
        loaders: dict[str, Callable[[], Metadata[Any]]] = {
            "root": self.load_root,
            "targets": self.load_targets,
            "snapshot": self.load_snapshot,
            "timestamp": self.load_timestamp,
        }
        signed = loaders[role]().signed
        warning = None
        if role == "root" and self._due(signed, "root", now):
            days = (signed.expires - now).days
            warning = (
                f"root expires in {days} days ({signed.expires.date()}): devices then refuse "
                "the channel. Renew it now with `precast edge refresh MODEL --renew-root` "
                "(needs root.key), then `publish`"
            )
        action = ("renewed" if role == "root" else "re-signed") if done else "kept"
        return RoleState(role, int(signed.version), signed.expires, action, warning)

    def rotate(
        self,
        role: str,
        new_keys: Sequence[Key],
        root_signers: Sequence[Signer],
        signers: Mapping[str, Sequence[Signer]],
        *,
        threshold: int | None = None,
        resign: Callable[[Path, Path], Path] | None = None,
    ) -> int:
        """Replace ``role``'s keys by ``new_keys`` in a new root version signed by
        ``root_signers`` (for a root rotation: old and new root keys, each meeting its own
        threshold), then re-sign the metadata below it with ``signers``. For ``targets``,
        ``resign(bundle, out_dir) -> new bundle`` re-signs every bundle the channel offers
        (their bundle.sig is made by the targets key), which become the targets. Returns
        the new root version."""
        targets = self._resigned_targets(resign) if role == "targets" and resign else None
        root = self.load_root()
        for keyid in list(root.signed.roles[role].keyids):
            root.signed.revoke_key(keyid, role)
        for key in new_keys:
            root.signed.add_key(key, role)
        if threshold is not None:
            root.signed.roles[role].threshold = threshold
        root.signed.version += 1
        root.signed.expires = self._expires("root")
        self._write_root(root, root_signers)
        if role != "root":
            if role == "targets" and targets is None:
                targets = self.load_targets()
            self._commit(targets, signers)
        return int(root.signed.version)

    def _resigned_targets(self, resign: Callable[[Path, Path], Path]) -> Metadata[Targets]:
        """The current targets with every bundle replaced by ``resign``'s copy (stored
        content-addressed first: nothing names them until the new targets is written)."""
        targets = self.load_targets()
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.root, prefix=".resign-") as tmp:
            for path, info in list(targets.signed.targets.items()):
                out = Path(tmp) / info.hashes["sha256"]
                out.mkdir()
                new = resign(self.stored_path(info), out)
                targets.signed.targets[path] = self._store(new, path, info.unrecognized_fields)
        return targets

    def _write_root(self, root: Metadata[Root], signers: Sequence[Signer]) -> None:
        self.metadata_dir.mkdir(parents=True, exist_ok=True)
        data = self._sign(root, signers)
        write_atomic(self.metadata_dir / f"{root.signed.version}.root.json", data)
        write_atomic(self.metadata_dir / "root.json", data)

    def _commit(
        self, targets: Metadata[Targets] | None, signers: Mapping[str, Sequence[Signer]]
    ) -> None:
        """New targets (if given), then a new snapshot naming it, then a new timestamp."""
        from tuf.api.metadata import Metadata, MetaFile, Snapshot

        self.metadata_dir.mkdir(parents=True, exist_ok=True)
        try:
            snapshot = self.load_snapshot()
            snapshot.signed.version += 1
        except UpdateError:
            snapshot = Metadata(Snapshot(expires=self._expires("snapshot")))
            snapshot.signed.meta.clear()
        if targets is not None:
            if (self.metadata_dir / "timestamp.json").is_file():
                targets.signed.version = snapshot.signed.meta["targets.json"].version + 1
            targets.signed.expires = self._expires("targets")
            data = self._sign(self._stamped(targets), _role(signers, "targets"))
            write_atomic(self.metadata_dir / f"{targets.signed.version}.targets.json", data)
            snapshot.signed.meta["targets.json"] = MetaFile.from_data(
                targets.signed.version, data, ["sha256"]
            )
        snapshot.signed.expires = self._expires("snapshot")
        data = self._sign(self._stamped(snapshot), _role(signers, "snapshot"))
        write_atomic(self.metadata_dir / f"{snapshot.signed.version}.snapshot.json", data)
        self._write_timestamp(snapshot, _role(signers, "timestamp"), data)

    def _write_timestamp(
        self, snapshot: Metadata[Snapshot], signers: Sequence[Signer], data: bytes | None = None
    ) -> None:
        from tuf.api.metadata import Metadata, MetaFile, Timestamp

        if data is None:
            data = (self.metadata_dir / f"{snapshot.signed.version}.snapshot.json").read_bytes()
        try:
            timestamp = self.load_timestamp()
            timestamp.signed.version += 1
        except UpdateError:
            timestamp = Metadata(Timestamp(expires=self._expires("timestamp")))
        timestamp.signed.snapshot_meta = MetaFile.from_data(
            snapshot.signed.version, data, ["sha256"]
        )
        timestamp.signed.expires = self._expires("timestamp")
        write_atomic(
            self.metadata_dir / "timestamp.json", self._sign(self._stamped(timestamp), signers)
        )

    def _stamped(self, md: Metadata[Any]) -> Metadata[Any]:
        """``md`` carrying the channel's identity (as its root does; none for older ones)."""
        identity = self.identity
        if identity is None:
            md.signed.unrecognized_fields.pop(CHANNEL_FIELD, None)
        else:
            md.signed.unrecognized_fields[CHANNEL_FIELD] = identity
        return md

    @staticmethod
    def _sign(md: Metadata[Any], signers: Sequence[Signer]) -> bytes:
        md.signatures.clear()
        for signer in signers:
            md.sign(signer, append=True)
        return _to_bytes(md)


def _role(signers: Mapping[str, Sequence[Signer]], role: str) -> Sequence[Signer]:
    if not signers.get(role):
        raise UpdateError(f"the channel's {role} metadata must be re-signed: its key is needed")
    return signers[role]


def _to_bytes(md: Metadata[Any]) -> bytes:
    from tuf.api.serialization.json import JSONSerializer

    return bytes(md.to_bytes(JSONSerializer(compact=False)))


def publish_order(channel: Path) -> list[Path]:
    """The channel's files in upload order: targets, versioned metadata, then the two
    mutable names (``root.json``, ``timestamp.json``) last."""
    files = sorted(p for p in (channel / TARGETS_DIR).glob("*") if p.is_file())
    meta = channel / METADATA_DIR
    versioned = sorted(
        (p for p in meta.glob("*.json") if p.name not in ("root.json", "timestamp.json")),
        key=lambda p: (p.name.split(".", 1)[1], int(p.name.split(".", 1)[0])),
    )
    last = [meta / "root.json", meta / "timestamp.json"]
    return files + versioned + [p for p in last if p.is_file()]

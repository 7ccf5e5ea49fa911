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
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.durable_fs import atomic_file, write_atomic
from edge.exceptions import UpdateError

if TYPE_CHECKING:
    from securesystemslib.signer import Key, Signer
    from tuf.api.metadata import Metadata, Root, Snapshot, Targets, Timestamp

METADATA_DIR = "metadata"
TARGETS_DIR = "targets"
BUNDLE_TARGET_SUFFIX = ".pcb"
DEFAULT_EXPIRY = {
    "root": timedelta(days=365),
    "targets": timedelta(days=90),
    "snapshot": timedelta(days=7),
    "timestamp": timedelta(days=1),
}


def target_path(model: str) -> str:
    """The one target path of ``model`` in a channel: what a device pins."""
    return f"{model}{BUNDLE_TARGET_SUFFIX}"


@dataclass
class ChannelRepository:
    """A channel directory. ``now`` is injectable so tests can make metadata that expires."""

    root: Path
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    expiry: dict[str, timedelta] = field(default_factory=lambda: dict(DEFAULT_EXPIRY))

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
    ) -> None:
        """A new channel: root v1 trusting ``keys`` per role, empty targets, snapshot,
        timestamp. Refuses to replace an existing channel (devices trust its root)."""
        from tuf.api.metadata import Metadata, Root, Targets

        if self.exists():
            raise UpdateError(f"{self.root} is already a channel; rotate keys instead")
        root = Root(expires=self._expires("root"), consistent_snapshot=True)
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
        signers: dict[str, Sequence[Signer]],
    ) -> str:
        """Make ``bundle`` the target ``<model>.pcb``; return its path under the channel."""
        from tuf.api.metadata import TargetFile

        info = TargetFile.from_file(target_path(model), str(bundle), ["sha256"])
        info.unrecognized_fields["custom"] = custom
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        stored = self.targets_dir / f"{info.hashes['sha256']}.{target_path(model)}"
        if not stored.is_file():
            with atomic_file(stored) as out, open(bundle, "rb") as src:
                shutil.copyfileobj(src, out)
        targets = self.load_targets()
        if targets.signed.targets.get(info.path) == info:
            return f"{TARGETS_DIR}/{stored.name}"  # already the target: the channel is unchanged
        targets.signed.targets[info.path] = info
        self._commit(targets, signers)
        return f"{TARGETS_DIR}/{stored.name}"

    def refresh(self, signers: dict[str, Sequence[Signer]]) -> None:
        """Re-sign what is about to expire without a new bundle: the timestamp always, the
        snapshot (then a new snapshot version) when a snapshot signer is given."""
        if signers.get("snapshot"):
            self._commit(None, signers)
            return
        self._write_timestamp(self.load_snapshot(), signers["timestamp"])

    def rotate(
        self,
        role: str,
        new_keys: Sequence[Key],
        root_signers: Sequence[Signer],
        signers: dict[str, Sequence[Signer]],
        *,
        threshold: int | None = None,
    ) -> int:
        """Replace ``role``'s keys by ``new_keys`` in a new root version signed by
        ``root_signers`` (for a root rotation: old and new root keys, each meeting its own
        threshold), then re-sign the metadata below it with ``signers``. Returns the new
        root version."""
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
            self._commit(self.load_targets() if role == "targets" else None, signers)
        return int(root.signed.version)

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
            data = self._sign(targets, signers["targets"])
            write_atomic(self.metadata_dir / f"{targets.signed.version}.targets.json", data)
            snapshot.signed.meta["targets.json"] = MetaFile.from_data(
                targets.signed.version, data, ["sha256"]
            )
        snapshot.signed.expires = self._expires("snapshot")
        data = self._sign(snapshot, signers["snapshot"])
        write_atomic(self.metadata_dir / f"{snapshot.signed.version}.snapshot.json", data)
        self._write_timestamp(snapshot, signers["timestamp"], data)

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
        write_atomic(self.metadata_dir / "timestamp.json", self._sign(timestamp, signers))

    @staticmethod
    def _sign(md: Metadata[Any], signers: Sequence[Signer]) -> bytes:
        md.signatures.clear()
        for signer in signers:
            md.sign(signer, append=True)
        return _to_bytes(md)


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

"""``precast bundle MODEL``: sign the latest artifact into a bundle and publish it as the
channel's target ``MODEL.pcb`` (a TUF repository, created on first use)."""

from __future__ import annotations

import argparse
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "bundle",
        help="sign the latest artifact of MODEL into an edge bundle and its TUF channel",
        description=(
            "Pack the artifact `precast optimize MODEL` made last into\n"
            "<dist_dir>/bundles/MODEL/MODEL-<version>.pcb (bundle.sig by the targets key),\n"
            "then make it the target MODEL.pcb of the channel in the same directory:\n"
            "metadata/ (root, targets, snapshot, timestamp; created on first use, which needs\n"
            "root.key) and targets/. Upload with `precast edge publish`; devices poll it with\n"
            "`precast edge update`. Every channel is named MODEL/CHANNEL-NAME in its signed\n"
            "metadata, and a device refuses any other channel's: --channel-name staging\n"
            "makes a separate channel in <dist_dir>/bundles/MODEL@staging/."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="model name from precast.toml (e.g. minilm)")
    p.add_argument("--keys", metavar="DIR", help="directory of the role keys (default: keys_dir)")
    p.add_argument("--out", metavar="DIR", help="channel directory (default: dist/bundles/MODEL)")
    add_channel_name(p)
    p.add_argument("--force", action="store_true", help="re-sign even if the bundle exists")
    p.set_defaults(func=run)


def add_channel_name(parser: Any) -> None:
    parser.add_argument(
        "--channel-name",
        metavar="NAME",
        help="the channel (default: [project.channel] default_name, production); any other "
        "name lives in <dist_dir>/bundles/MODEL@NAME/",
    )


@dataclass(frozen=True)
class BundleResult:
    path: Path
    channel: Path
    target: str
    version: str
    size: int
    sha256: str
    key_id: str
    reused: bool
    identity: str | None = None


def make_bundle(
    config: Any,
    model: str,
    *,
    keys: Path | None = None,
    out: Path | None = None,
    force: bool = False,
    channel_name: str | None = None,
) -> BundleResult:
    """Sign the latest artifact of ``model`` (config: a loaded ProjectConfig) and publish it
    to its channel (``channel_name``, default: the config's ``project.channel``)."""
    from edge import signing
    from edge.artifact_layout import latest_artifact
    from edge.bundle import read_bundle_info
    from edge.bundle_writer import build_bundle, bundle_file_name
    from edge.channel_repository import channel_directory, channel_identity
    from edge.exceptions import BundleVerificationError
    from edge.file_hash import sha256_file
    from edge.manifest import read_manifest

    config.model(model)  # a clear error for an unknown name
    artifact = latest_artifact(config.artifacts_dir, model)
    key_dir = keys or config.keys_dir
    for name in signing.role_key_names(key_dir, "targets"):
        _warn_if_readable(key_dir / f"{name}{signing.KEY_SUFFIX}")
    targets_signers = signing.load_role_signers(key_dir, "targets")
    trusted = [s.public_key for s in targets_signers]
    name = channel_name or config.channel.default_name
    channel = out or channel_directory(config.dist_dir, model, name)
    manifest = read_manifest(artifact)
    path = channel / bundle_file_name(manifest.name, manifest.version)
    reused = False
    if path.is_file() and not force:
        try:
            info = read_bundle_info(path, trusted)
            reused = info.version == manifest.version
        except BundleVerificationError:
            reused = False
    if not reused:
        path = build_bundle(artifact, targets_signers, channel)  # all: a threshold counts them
        info = read_bundle_info(path, trusted)
    repo = open_channel(channel, key_dir, channel_identity(model, name), config.channel)
    custom = {"name": info.name, "version": info.version, "created_at": info.created_at}
    stored = repo.add_bundle(path, info.name, custom, online_signers(key_dir))
    return BundleResult(
        path,
        channel,
        stored,
        info.version,
        path.stat().st_size,
        sha256_file(path),
        info.key_id,
        reused,
        repo.identity,
    )


def online_signers(key_dir: Path) -> dict[str, Any]:
    """The keys that sign day to day: targets, snapshot, timestamp (root stays offline)."""
    from edge import signing

    return {r: signing.load_role_signers(key_dir, r) for r in ("targets", "snapshot", "timestamp")}


def channel_repository(channel: Path, settings: Any) -> Any:
    """The channel in ``channel`` with the expiry and renewal margins of ``settings``
    (a ``[project.channel]`` table, :class:`precast.project.config.ChannelSettings`)."""
    from edge.channel_repository import ChannelRepository

    return ChannelRepository(channel, expiry=settings.expiry(), margin=settings.margin())


def open_channel(channel: Path, key_dir: Path, identity: str, settings: Any) -> Any:
    """The channel repository in ``channel``, created (root v1 signed by root.key, named
    ``identity`` in every metadata file) if new."""
    from edge import signing

    repo = channel_repository(channel, settings)
    if not repo.exists():
        signers = {r: signing.load_role_signers(key_dir, r) for r in signing.ROLES}
        keys = {r: [s.public_key for s in v] for r, v in signers.items()}
        thresholds = {r: len(v) for r, v in signers.items()}
        repo.create(keys, signers, thresholds=thresholds, identity=identity)
    elif repo.identity not in (None, identity):
        from edge.exceptions import UpdateError

        raise UpdateError(
            f"{channel} is the channel {repo.identity!r}, not {identity!r}; pass the "
            "matching --channel-name (or --out)"
        )
    return repo


def _warn_if_readable(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return  # load_signer says what is wrong
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        print(f"precast: warning: {path} is readable by others; run chmod 600", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from precast.project.config import load_config

    cfg = load_config(args.config)
    r = make_bundle(
        cfg,
        args.model,
        keys=Path(args.keys) if args.keys else None,
        out=Path(args.out) if args.out else None,
        force=args.force,
        channel_name=args.channel_name,
    )
    verb = "kept existing" if r.reused else "wrote"
    print(f"{verb} {r.path} ({r.size / 1e6:.1f} MB, {r.size} bytes)")
    print(f"  version {r.version}, bundle.sig by targets key {r.key_id[:16]}, sha256 {r.sha256}")
    print(f"  channel {r.channel} ({r.identity}; target {args.model}.pcb -> {r.target})")
    print(f"  devices trust {r.channel / 'metadata' / '1.root.json'}")
    return 0

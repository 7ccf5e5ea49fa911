"""``precast edge ...``: the device side (update, check, rollback, unpin) and the channel
operator's side (publish, refresh, rotate-key) of a TUF channel of bundles."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

DEVICE_ACTIONS = {
    "update": "install the channel's newest bundle of --model if it is new",
    "check": "refresh the channel metadata and say whether an update is available",
    "rollback": "point current back at the previous version and pin it",
    "unpin": "lift a pin (after a rollback) so updates follow the channel again",
}


def register(sub: Any) -> None:
    p = sub.add_parser(
        "edge",
        help="device updates from a TUF channel of bundles; publish and re-sign channels",
        description=(
            "Device: an install dir holds versions/<v>/, `current` and `previous` pointers\n"
            "and tuf/ (the trusted metadata). `update` refreshes the channel's TUF metadata\n"
            "from the root the device was given (--root), downloads --model's bundle within\n"
            "its signed length and a deadline, verifies, health-checks and swaps `current`\n"
            "atomically. Operator: `publish` uploads a channel (targets before metadata),\n"
            "`refresh` re-signs whatever expires soon (daily, from a timer) and warns ahead\n"
            "of root's expiry, `rotate-key` replaces a role's key in a new root version."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    edge_sub = p.add_subparsers(dest="edge_command", metavar="ACTION")
    for name, help_text in DEVICE_ACTIONS.items():
        a = edge_sub.add_parser(name, help=help_text, description=help_text)
        if name in ("update", "check"):
            a.add_argument("--source", required=True, metavar="URI", help="dir, http(s)://, s3://")
            a.add_argument("--deadline", type=float, metavar="S", help="for all downloads")
            a.add_argument("--min-rate", type=float, metavar="B/S", help="per file, bytes/s")
        a.add_argument(
            "--install-dir",
            required=True,
            metavar="DIR",
            help="the device's model directory (versions/, current, previous, tuf/)",
        )
        a.add_argument("--root", required=True, metavar="FILE", help="the trusted root.json")
        a.add_argument("--model", required=True, help="the model this device runs (pinned)")
        if name == "update":
            a.add_argument("--no-health-check", action="store_true", help="skip the smoke test")
            a.add_argument("--allow-downgrade", action="store_true", help="accept older bundles")
            a.add_argument("--force", action="store_true", help="retry a rejected version")
        a.set_defaults(func=run_device)
    _register_operator(edge_sub)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def _register_operator(edge_sub: Any) -> None:
    pub = edge_sub.add_parser(
        "publish",
        help="upload a channel: targets first, versioned metadata, then root/timestamp",
        description="Upload <dist_dir>/bundles/MODEL (or --channel) to a directory or "
        "s3://bucket/prefix/ in an order that never shows devices metadata naming a file "
        "that is not there yet. Only metadata/ and targets/ are uploaded.",
    )
    pub.add_argument("model", help="model name from precast.toml (its channel)")
    pub.add_argument("--to", required=True, metavar="DEST", help="directory or s3://bucket/prefix/")
    ref = edge_sub.add_parser(
        "refresh",
        help="keep a channel alive: re-sign what expires soon, warn before root expires",
        description="Run this daily (more often than the timestamp expiry, 1 day by "
        "default), e.g. from a timer, then `publish`: devices refuse an expired channel "
        "(freeze attack). Re-signs the timestamp every run, the snapshot and the targets "
        "once they expire within [project.channel.renew_days], and prints each role's "
        "version, expiry and what was re-signed. Root is signed by the offline root.key: "
        "refresh warns [project.channel.renew_days] root days ahead of its expiry, and "
        "--renew-root writes a new root version (same keys, new expiry).",
    )
    ref.add_argument("model", help="model name from precast.toml (its channel)")
    ref.add_argument(
        "--renew-root",
        action="store_true",
        help="also write a new root version (same keys, new expiry), signed by root.key",
    )
    rot = edge_sub.add_parser(
        "rotate-key",
        help="replace a role's key: new key, new root version, metadata re-signed",
        description="Archives the old key under keys_dir/revoked/, creates a new one, writes "
        "root version n+1 (signed by the old root keys, and the new ones when rotating root) "
        "and re-signs what the role signs. Devices follow on their next update and refuse "
        "anything signed by the old key afterwards. Rotating targets also re-signs the "
        "bundle.sig of every bundle the channel offers with the new key, so new devices "
        "and edge.load(..., public_key=new targets.pub) accept it. Then `publish`.",
    )
    rot.add_argument("model", help="model name from precast.toml (its channel)")
    rot.add_argument(
        "--role",
        required=True,
        choices=("root", "targets", "snapshot", "timestamp"),
        help="the TUF role whose key is replaced",
    )
    from precast.commands.bundle import add_channel_name

    for a in (pub, ref, rot):
        a.add_argument("--channel", metavar="DIR", help="default: <dist_dir>/bundles/MODEL")
        add_channel_name(a)
        a.add_argument("--keys", metavar="DIR", help="default: keys_dir")
        a.set_defaults(func=run_operator)


def run_device(args: argparse.Namespace) -> int:
    from edge.update_source import DownloadLimits
    from edge.updater import Updater

    defaults = DownloadLimits()
    limits = DownloadLimits(
        deadline_s=getattr(args, "deadline", None) or defaults.deadline_s,
        min_rate=getattr(args, "min_rate", None) or defaults.min_rate,
    )
    updater = Updater(
        getattr(args, "source", None),
        args.install_dir,
        Path(args.root),
        model=args.model,
        health_check=not getattr(args, "no_health_check", False),
        allow_downgrade=getattr(args, "allow_downgrade", False),
        limits=limits,
    )
    if args.edge_command == "check":
        c = updater.check()
        state = "update available" if c.update_available else "no update"
        print(f"{state}: {c.reason}")
        offer = c.available
        print(f"  channel offers {offer.name} {offer.version} ({offer.length} bytes)")
        print(f"  current: {c.current or '-'}   pinned: {c.pinned or '-'}")
        print(f"  channel: {c.channel or '- (an older channel: no identity to pin)'}")
        for role in c.roles:
            print(f"  trusted {role.role:<9} v{role.version:<5} expires {role.expires.isoformat()}")
        return 0
    if args.edge_command == "unpin":
        updater.unpin()
        print(f"unpinned: {args.install_dir} follows the channel again")
        return 0
    result = (
        updater.rollback() if args.edge_command == "rollback" else updater.update(force=args.force)
    )
    print(f"{result.status}: {result.message}")
    if result.health is not None:
        print(f"  health check: {result.health.describe()}")
    print(f"  current:  {updater.current_version or '-'}")
    print(f"  previous: {result.previous or '-'}")
    return 0


def run_operator(args: argparse.Namespace) -> int:
    from edge.channel_repository import channel_directory
    from precast.commands.bundle import channel_repository
    from precast.project.config import ChannelSettings, config_path, load_config

    cfg: Any = None
    if not (args.channel and args.keys) or config_path(args.config).exists():
        cfg = load_config(args.config)  # expiry and margins; --channel/--keys alone need none
    settings = cfg.channel if cfg is not None else ChannelSettings()
    name = args.channel_name or settings.default_name
    channel = (
        Path(args.channel) if args.channel else channel_directory(cfg.dist_dir, args.model, name)
    )
    key_dir = Path(args.keys) if args.keys else cfg.keys_dir
    repo = channel_repository(channel, settings)
    if args.edge_command == "publish":
        count = publish_channel(channel, args.to)
        print(f"published {count} files of {channel} to {args.to} (targets first, timestamp last)")
    elif args.edge_command == "refresh":
        states = refresh_channel(repo, key_dir, renew_root=args.renew_root)
        print(f"refreshed {channel} ({repo.identity or 'no channel identity'}); now `publish` it")
        for state in states:
            print(f"  {state.describe()}")
    else:
        version = rotate_key(repo, key_dir, args.role)
        print(f"rotated the {args.role} key of {channel}: root v{version}; now `publish` it")
    return 0


def refresh_channel(repo: Any, key_dir: Path, *, renew_root: bool = False) -> list[Any]:
    """`precast edge refresh`: re-sign what expires within its margin with the online keys
    (root.key only with ``renew_root``); each role's :class:`RoleState`, warnings included."""
    import sys

    from edge import signing
    from precast.commands.bundle import online_signers

    root_signers = signing.load_role_signers(key_dir, "root") if renew_root else None
    states: list[Any] = repo.refresh(online_signers(key_dir), root_signers=root_signers)
    for state in states:
        if state.warning:
            print(f"precast: warning: {repo.root}: {state.warning}", file=sys.stderr)
    return states


def rotate_key(repo: Any, key_dir: Path, role: str) -> int:
    """New key for ``role`` (old one archived in keys_dir/revoked/), new root version; for
    ``targets``, every bundle the channel offers is re-signed with the new key."""
    import shutil

    from edge import signing

    old_root = signing.load_role_signers(key_dir, "root")
    root_md = repo.load_root().signed
    old_keys = [root_md.keys[k] for k in root_md.roles[role].keyids]
    if role == "targets":  # refuse before any key moves if an offered bundle is not ours
        from edge.bundle import read_bundle_info

        for info in repo.load_targets().signed.targets.values():
            read_bundle_info(repo.stored_path(info), old_keys)
    old_names = signing.role_key_names(key_dir, role)
    revoked = key_dir / "revoked"
    revoked.mkdir(parents=True, exist_ok=True)
    for name in old_names:
        for suffix in (signing.KEY_SUFFIX, signing.PUB_SUFFIX):
            if (key_dir / f"{name}{suffix}").exists():
                shutil.move(key_dir / f"{name}{suffix}", revoked / f"{name}{suffix}")
    new = [signing.generate_key(key_dir, name) for name in old_names]
    root_signers = old_root + new if role == "root" else old_root
    signers = {r: signing.load_role_signers(key_dir, r) for r in signing.ROLES}

    def resign(bundle: Path, out: Path) -> Path:
        from edge.bundle_writer import resign_bundle
        from edge.durable_fs import write_atomic

        path = resign_bundle(bundle, old_keys, new, out)
        kept = repo.root / path.name  # what `precast bundle` reuses: keep it verifying
        if kept.is_file():
            write_atomic(kept, path.read_bytes())
        return path

    return int(
        repo.rotate(
            role,
            [s.public_key for s in new],
            root_signers,
            signers,
            resign=resign if role == "targets" else None,
        )
    )


def publish_channel(channel: Path, dest: str) -> int:
    """Copy or upload the channel's files in :func:`publish_order`."""
    import os
    import shutil
    import urllib.parse

    from edge.channel_repository import publish_order

    files = publish_order(channel)
    if dest.startswith("s3://"):
        import boto3

        parsed = urllib.parse.urlsplit(dest)
        prefix = parsed.path.lstrip("/").rstrip("/")
        s3 = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
        for path in files:
            key = f"{prefix}/{path.relative_to(channel).as_posix()}".lstrip("/")
            s3.upload_file(str(path), parsed.netloc, key)
        return len(files)
    mutable = {"root.json", "timestamp.json"}
    for path in files:
        target = Path(dest) / path.relative_to(channel)
        if path.name not in mutable and target.is_file():
            continue  # versioned metadata and content-addressed targets never change
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)
    return len(files)

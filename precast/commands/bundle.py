"""``precast bundle MODEL``: sign the latest artifact into an edge bundle + channel index."""

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
        help="sign the latest artifact of MODEL into an edge bundle (.pcb)",
        description=(
            "Pack the artifact `precast optimize MODEL` made last into\n"
            "<dist_dir>/bundles/MODEL/MODEL-<version>.pcb, signed with the Ed25519 key from\n"
            "`precast keys`, and point <dist_dir>/bundles/MODEL/latest.json at it. Publish\n"
            "that directory as is (bundle first, latest.json last) to a web server or\n"
            "s3://<bucket>/bundles/MODEL/; devices poll it with `precast edge update`."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="model name from precast.toml (e.g. minilm)")
    p.add_argument(
        "--key", metavar="PATH", help="private key file (default: keys_dir/precast_ed25519.key)"
    )
    p.add_argument("--out", metavar="DIR", help="channel directory (default: dist/bundles/MODEL)")
    p.add_argument("--force", action="store_true", help="rebuild even if the bundle exists")
    p.set_defaults(func=run)


@dataclass(frozen=True)
class BundleResult:
    path: Path
    index: Path
    version: str
    size: int
    sha256: str
    key_id: str
    reused: bool


def make_bundle(
    config: Any,
    model: str,
    *,
    key: Path | None = None,
    out: Path | None = None,
    force: bool = False,
) -> BundleResult:
    """Sign the latest artifact of ``model`` (config: a loaded ProjectConfig)."""
    from edge import signing
    from edge.artifact_layout import latest_artifact
    from edge.bundle import read_bundle_info
    from edge.bundle_format import INDEX_NAME
    from edge.bundle_writer import build_bundle, bundle_file_name, write_index
    from edge.exceptions import BundleVerificationError
    from edge.manifest import read_manifest

    config.model(model)  # a clear error for an unknown name
    artifact = latest_artifact(config.artifacts_dir, model)
    key_path = key or config.keys_dir / signing.PRIVATE_KEY_FILE
    _warn_if_readable(key_path)
    seed = signing.read_key_file(key_path)
    public = signing.public_key(seed)
    channel = out or config.dist_dir / "bundles" / model
    manifest = read_manifest(artifact)
    path = channel / bundle_file_name(manifest.name, manifest.version)
    reused = False
    if path.is_file() and not force:
        try:
            info = read_bundle_info(path, public)
            reused = info.version == manifest.version
        except BundleVerificationError:
            reused = False
    if not reused:
        path = build_bundle(artifact, seed, channel)
        info = read_bundle_info(path, public)
    entry = write_index(path, info)
    return BundleResult(
        path, channel / INDEX_NAME, info.version, entry.size, entry.sha256, info.key_id, reused
    )


def _warn_if_readable(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return  # read_key_file says what is wrong
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        print(f"precast: warning: {path} is readable by others; run chmod 600", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from precast.config import load_config

    cfg = load_config(args.config)
    r = make_bundle(
        cfg,
        args.model,
        key=Path(args.key) if args.key else None,
        out=Path(args.out) if args.out else None,
        force=args.force,
    )
    verb = "kept existing" if r.reused else "wrote"
    print(f"{verb} {r.path} ({r.size / 1e6:.1f} MB, {r.size} bytes)")
    print(f"  version {r.version}, signed by key {r.key_id}, sha256 {r.sha256}")
    print(f"  index   {r.index}")
    return 0

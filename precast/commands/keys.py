"""``precast keys``: create the Ed25519 key pair that signs edge bundles."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "keys",
        help="create the Ed25519 key pair that signs edge bundles",
        description=(
            "Write precast_ed25519.key (private, mode 0600) and precast_ed25519.pub to the\n"
            "config's keys_dir (default .precast/keys). Devices pin the public key; the\n"
            "private key never goes into a bundle. An existing pair is kept unless --force."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", metavar="DIR", help="directory for the key pair (default: keys_dir)")
    p.add_argument("--force", action="store_true", help="replace an existing key pair")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge import signing

    if args.out:
        out = Path(args.out)
    else:
        from precast.config import load_config

        out = load_config(args.config).keys_dir
    private, public, pub = signing.write_key_pair(out, force=args.force)
    print(f"private key: {private} (mode 0600; keep it off devices and out of git)")
    print(f"public key:  {public}")
    print(f"key id:      {signing.key_id(pub)}")
    print(signing.encode_key(pub))
    return 0

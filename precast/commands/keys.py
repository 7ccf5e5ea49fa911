"""``precast keys``: create the Ed25519 keys of a channel, one per TUF role."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "keys",
        help="create the Ed25519 keys of an edge channel (root, targets, snapshot, timestamp)",
        description=(
            "Write <role>.key (private, PKCS#8 PEM, mode 0600) and <role>.pub for the TUF\n"
            "roles root, targets, snapshot and timestamp to the config's keys_dir (default\n"
            ".precast/keys). Keep root.key offline (it only signs new roots: `precast edge\n"
            "rotate-key`); targets.key also signs each bundle's bundle.sig. --threshold\n"
            "ROLE=N makes N keys for ROLE (<role>.key, <role>-2.key, ...). Existing keys are\n"
            "never replaced: rotate them instead."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", metavar="DIR", help="directory for the keys (default: keys_dir)")
    p.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="ROLE=N",
        help="make N keys for ROLE (repeatable); the channel then needs N signatures",
    )
    p.set_defaults(func=run)


def parse_thresholds(values: list[str]) -> dict[str, int]:
    from edge.exceptions import SigningKeyError
    from edge.signing import ROLES

    out: dict[str, int] = {}
    for value in values:
        role, _, count = value.partition("=")
        if role not in ROLES or not count.isdigit() or int(count) < 1:
            raise SigningKeyError(
                f"--threshold {value!r}: use ROLE=N with ROLE one of {', '.join(ROLES)}, N >= 1"
            )
        out[role] = int(count)
    return out


def keys_dir(args: argparse.Namespace, flag: str | None) -> Path:
    if flag:
        return Path(flag)
    from precast.project.config import load_config

    return load_config(args.config).keys_dir


def run(args: argparse.Namespace) -> int:
    from edge import signing

    out = keys_dir(args, args.out)
    made = signing.generate_role_keys(out, thresholds=parse_thresholds(args.threshold))
    for role, signers in made.items():
        for signer in signers:
            raw = signing.key_bytes(signer.public_key)
            print(f"{role:<9} key id {signer.public_key.keyid[:16]}  {signing.encode_key(raw)}")
    print(f"keys in {out} (private keys mode 0600; keep root.key offline and out of git)")
    return 0

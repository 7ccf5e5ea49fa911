"""``precast edge update|check|rollback``: keep a device's install dir on the newest bundle."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "edge",
        help="update a device install from a bundle channel (dir, http(s)://, s3://)",
        description=(
            "Device-side commands. An install dir holds versions/<v>/, a `current` pointer\n"
            "and a `previous` one. `update` downloads the channel's newest signed bundle\n"
            "(resuming a partial download), verifies it, health-checks it and swaps\n"
            "`current` atomically; a failed check leaves the device where it was."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    edge_sub = p.add_subparsers(dest="edge_command", metavar="ACTION")
    for name, help_text in (
        ("update", "install the newest bundle if it is new"),
        ("check", "say whether an update is available; change nothing"),
        ("rollback", "point current back at the previous version"),
    ):
        a = edge_sub.add_parser(name, help=help_text, description=help_text)
        if name != "rollback":
            a.add_argument(
                "--source", required=True, metavar="URI", help="dir, http(s):// or s3://"
            )
        a.add_argument("--install-dir", required=True, metavar="DIR")
        a.add_argument("--public-key", required=True, metavar="FILE", help="precast_ed25519.pub")
        if name == "update":
            a.add_argument("--no-health-check", action="store_true", help="skip the smoke test")
            a.add_argument("--allow-downgrade", action="store_true", help="accept older bundles")
            a.add_argument("--force", action="store_true", help="retry a rejected version")
        a.set_defaults(func=run)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from edge.updater import Updater

    updater = Updater(
        getattr(args, "source", None),
        args.install_dir,
        Path(args.public_key),
        health_check=not getattr(args, "no_health_check", False),
        allow_downgrade=getattr(args, "allow_downgrade", False),
    )
    if args.edge_command == "check":
        c = updater.check()
        state = "update available" if c.update_available else "no update"
        print(f"{state}: {c.reason}")
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

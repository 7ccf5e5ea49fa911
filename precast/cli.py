"""The ``precast`` command line. Each capability is one module under precast/commands/.

Every command module exposes ``register(subparsers)``; it adds its parser and sets
``func``. Heavy imports happen inside the command functions, so ``precast --help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from edge.exceptions import PrecastError

# Order here is the order in --help.
COMMAND_MODULES = [
    "precast.commands.demo",
    "precast.commands.models",
    "precast.commands.optimize",
    "precast.commands.info",
    "precast.commands.keys",
    "precast.commands.bundle",
    "precast.commands.batch",
    "precast.commands.edge_update",
    "precast.commands.serve",
    "precast.commands.package",
    "precast.commands.cost",
    "precast.commands.config",
]

DESCRIPTION = """\
precast compiles a model once to a quantized ONNX artifact and runs that one artifact on
AWS Lambda, Modal GPUs, edge devices and spot batch jobs.

Typical flow (all local, no AWS account needed):
  precast demo                 optimize -> bundle -> batch -> serve -> query, and report
  precast optimize minilm      build artifacts/minilm/<version>/ and print the recipe table

Configuration lives in precast.toml (see docs/configuration.md).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="precast",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        default=None,
        metavar="PATH",
        help="path to precast.toml (default: ./precast.toml or $PRECAST_CONFIG)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except PrecastError as exc:
        print(f"precast: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("precast: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

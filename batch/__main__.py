"""``python -m batch run --artifact DIR --input URI --output URI ...``: the container entrypoint.

On AWS Batch the shard comes from ``AWS_BATCH_JOB_ARRAY_INDEX`` (and the count from
``--shards N`` or ``AWS_BATCH_JOB_ARRAY_SIZE``), the cache from ``PRECAST_CACHE_URL``.
Exit codes: :mod:`batch.exit_codes`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from batch import exit_codes
from batch.arguments import add_run_arguments, settings_from_args
from batch.gc import add_gc_arguments, run_gc
from edge.exceptions import PrecastError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m batch",
        description="precast batch precompute: sharded, resumable, idempotent (docs/batch.md)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = sub.add_parser("run", help="precompute one shard: infer, write parts and the cache")
    add_run_arguments(run)
    gc = sub.add_parser("gc", help="list (or --delete) abandoned run directories of an output")
    add_gc_arguments(gc)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from batch.job import run_job

    try:
        if args.command == "gc":
            return run_gc(args)
        return run_job(settings_from_args(args))
    except PrecastError as exc:
        print(f"precast batch: error: {exc}", file=sys.stderr)
        return exit_codes.FAILED
    except KeyboardInterrupt:
        print("precast batch: interrupted", file=sys.stderr)
        return exit_codes.INTERRUPTED_SIGINT


if __name__ == "__main__":
    sys.exit(main())

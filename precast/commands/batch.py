"""``precast batch run MODEL``: precompute embeddings for a file into the prediction cache.

Translates precast.toml (``[models.MODEL.batch]``, ``project.cache``, the serving TTL and
the latest artifact) into explicit :class:`batch.JobSettings` and runs one shard in this
process. Flags override the config; ``PRECAST_CACHE_URL``/``PRECAST_CACHE_TTL_S`` in the
environment override the config's cache (that is how AWS points the job at DynamoDB).
"""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    from batch.arguments import add_run_arguments

    p = sub.add_parser(
        "batch",
        help="batch precompute: fill the prediction cache from a JSONL/Parquet file",
        description="Sharded, resumable, idempotent batch precompute (docs/batch.md).",
    )
    commands = p.add_subparsers(dest="batch_command", metavar="COMMAND", required=True)
    run = commands.add_parser(
        "run",
        help="precompute one shard of MODEL's batch input",
        description=(
            "Read --input (JSONL/Parquet, local or s3://), skip texts the cache holds for\n"
            "the model version, infer the rest, write parts under --output/run-<id>/ and\n"
            "every prediction into the cache. Defaults come from [models.MODEL.batch].\n"
            "Exit codes: 0 done, 1 error, 3 error budget exceeded, 75 cache unavailable,\n"
            "143 stopped by SIGTERM after a checkpoint (rerun to resume)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("model", help="model name from precast.toml (e.g. minilm)")
    add_run_arguments(
        run, artifact_help="artifact directory (default: the latest artifacts/MODEL/<version>)"
    )
    run.set_defaults(func=run_batch)
    gc = commands.add_parser(
        "gc",
        help="list (or --delete) abandoned run directories under an output",
        description=(
            "A run-<id>/ directory is abandoned when not every shard wrote _SUCCESS and\n"
            "nothing in it changed for --min-age-hours (its input or model changed, or nobody\n"
            "reran it). Complete runs are never removed. Dry run unless --delete."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from batch.gc import add_gc_arguments, run_gc

    add_gc_arguments(gc)
    gc.set_defaults(func=run_gc)


def run_batch(args: argparse.Namespace) -> int:
    from batch.arguments import settings_from_args
    from batch.job import run_job
    from edge.artifact_layout import latest_artifact
    from precast.project.config import load_config

    cfg = load_config(args.config)
    model = cfg.model(args.model)
    b = model.batch
    defaults: dict[str, Any] = {
        "input": b.input,
        "output": b.output,
        "cache": cfg.cache,
        "ttl_s": model.serving.cache_ttl_days * 86_400,
        "id_field": b.id_field,
        "text_field": b.text_field,
        "checkpoint_every": b.checkpoint_every,
        "error_budget": b.error_budget,
        "skip_cached": b.skip_cached,
    }
    if args.artifact is None:
        defaults["artifact"] = str(latest_artifact(cfg.artifacts_dir, model.name))
    return run_job(settings_from_args(args, defaults=defaults))

"""precast batch precompute: fill the prediction cache (and write embeddings) from a file.

A job is one shard of an input (JSONL or Parquet, local or ``s3://``). It skips what the
cache already holds for the model version, infers the rest through ``edge/`` in
token-budget batches, writes output parts and cache entries idempotently, checkpoints,
and on SIGTERM (spot reclaim) commits and exits 143 so a retry resumes. See docs/batch.md.

    python -m batch run --artifact DIR --input texts.jsonl --output out/ [--shard 0/4]
    precast batch run minilm --input texts.jsonl --output out/      (reads precast.toml)

Imports only ``edge`` (plus pyarrow for Parquet/JSONL output and boto3 for s3://, lazily).
"""

from __future__ import annotations

from batch.settings import JobSettings
from batch.shards import ShardSpec

__all__ = ["JobSettings", "ShardSpec", "run_job"]


def run_job(settings: JobSettings) -> int:
    """Run one shard; returns the exit code (see :mod:`batch.exit_codes`)."""
    from batch.job import run_job as _run_job

    return _run_job(settings)

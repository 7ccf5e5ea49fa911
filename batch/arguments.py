"""The ``run`` flags, shared by ``python -m batch run`` and ``precast batch run MODEL``.

Flags default to None so that the resolution order of :mod:`batch.settings` applies:
explicit flag, then environment, then the caller's defaults, then built-in defaults.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any, TypeVar

from batch.settings import (
    DEFAULT_ARTIFACT,
    ENV_ARTIFACT,
    ENV_CACHE_TTL_S,
    ENV_CACHE_URL,
    OUTPUT_FORMATS,
    JobSettings,
    JobSettingsError,
)
from batch.shards import resolve_shard
from edge.environment import (
    PRECAST_ARTIFACT,
    PRECAST_CACHE_TTL_S,
    PRECAST_CACHE_URL,
    PRECAST_MODEL,
    EnvVar,
    EnvVarError,
)

T = TypeVar("T")


def add_run_arguments(p: argparse.ArgumentParser, *, artifact_help: str | None = None) -> None:
    p.add_argument(
        "--artifact",
        metavar="DIR",
        help=artifact_help
        or f"artifact directory (default: ${ENV_ARTIFACT} or {DEFAULT_ARTIFACT})",
    )
    p.add_argument("--input", metavar="URI", help="JSONL/Parquet file, directory or s3:// URI")
    p.add_argument(
        "--output", metavar="URI", help="directory or s3:// prefix; the run writes run-<id>/"
    )
    p.add_argument("--shard", metavar="I/N", help="this job's shard, e.g. 0/4")
    p.add_argument(
        "--shards",
        type=int,
        metavar="N",
        help="shard count when the index comes from AWS_BATCH_JOB_ARRAY_INDEX",
    )
    p.add_argument(
        "--cache", metavar="URL", help=f"sqlite:<path>|dynamodb:<table>|none (env {ENV_CACHE_URL})"
    )
    p.add_argument("--ttl-s", type=float, metavar="S", help=f"cache TTL (env {ENV_CACHE_TTL_S})")
    p.add_argument(
        "--checkpoint", metavar="URI", help="checkpoint prefix (default: in the run directory)"
    )
    p.add_argument("--id-field", metavar="NAME", help="id column/field (default id)")
    p.add_argument("--text-field", metavar="NAME", help="text column/field (default text)")
    p.add_argument("--checkpoint-every", type=int, metavar="N", help="records per checkpoint")
    p.add_argument("--chunk-size", type=int, metavar="N", help="texts per inference call")
    p.add_argument("--error-budget", type=float, metavar="F", help="max rejected fraction")
    p.add_argument(
        "--lease-ttl",
        type=float,
        metavar="S",
        dest="lease_ttl_s",
        help="seconds a shard's lease lives unrenewed (renewed every checkpoint; default 900)",
    )
    p.add_argument(
        "--skip-cached",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="skip texts the cache already holds for this model version (default: on)",
    )
    p.add_argument("--output-format", choices=OUTPUT_FORMATS, help="default: the input's")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )


def settings_from_args(
    ns: argparse.Namespace,
    *,
    defaults: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> JobSettings:
    env = os.environ if env is None else env
    base = dict(defaults or {})

    def pick(name: str) -> Any:
        value = getattr(ns, name, None)
        return base.get(name) if value is None else value

    def layered(var: EnvVar[T], name: str) -> T | None:
        """Flag, else variable, else the caller's default; each read by the one parser."""
        flag = getattr(ns, name, None)
        if flag is not None:
            return var.parse(f"--{name.replace('_', '-')}", str(flag))
        if env.get(var.name, "").strip():
            return var.read(env)
        if base.get(name) is not None and str(base[name]).strip():
            return var.parse(var.name, str(base[name]))
        return None

    try:
        cache = layered(PRECAST_CACHE_URL, "cache")
        ttl_s = layered(PRECAST_CACHE_TTL_S, "ttl_s")
        artifact = layered(PRECAST_ARTIFACT, "artifact")
        model = PRECAST_MODEL.read(env)
    except EnvVarError as exc:
        raise JobSettingsError(str(exc)) from None
    chosen: dict[str, Any] = {
        "artifact": str(artifact or DEFAULT_ARTIFACT),
        "input": pick("input") or "",
        "output": pick("output") or "",
        "shard": resolve_shard(pick("shard"), pick("shards"), env),
        "cache_url": cache,
        "checkpoint": pick("checkpoint"),
        "ttl_s": ttl_s,
        "model": model,
    }
    for name in (
        "id_field",
        "text_field",
        "checkpoint_every",
        "chunk_size",
        "error_budget",
        "skip_cached",
        "output_format",
        "progress",
        "lease_ttl_s",
    ):
        value = pick(name)
        if value is not None:
            chosen[name] = value
    return JobSettings(**chosen)

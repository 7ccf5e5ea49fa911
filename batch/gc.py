"""``precast batch gc OUTPUT``: find (and with ``--delete`` remove) abandoned run directories.

A run directory ``run-<id>/`` is *complete* when every shard of it wrote its ``_SUCCESS``
marker (the marker names the shard count), and *abandoned* when it is not complete and
nothing in it changed for ``min_age_s`` (default a day): an input or a model that changed,
or a job nobody reran. Complete runs are results and are never removed; a run a job is
still writing has fresh files and is left alone. Dry run by default. Checkpoints kept under
a separate ``--checkpoint`` prefix are not touched.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from typing import TextIO

from batch.backends import storage_for
from batch.storage import Storage, join

RUN_PREFIX = "run-"
DEFAULT_MIN_AGE_S = 24 * 3600.0


@dataclass(frozen=True)
class RunDirectory:
    run_id: str
    uri: str
    files: int
    size: int
    markers: int
    shards: int | None  # from a marker; None when no shard finished
    last_modified: float

    @property
    def complete(self) -> bool:
        return self.shards is not None and self.markers >= self.shards

    def abandoned(self, now: float, min_age_s: float) -> bool:
        return not self.complete and now - self.last_modified >= min_age_s


def find_runs(output: str, storage: Storage | None = None) -> list[RunDirectory]:
    storage = storage or storage_for(output)
    runs = []
    for name in storage.list_dirs(output):
        if not name.startswith(RUN_PREFIX):
            continue
        uri = join(output, name)
        files = storage.list_files(uri) or []
        markers = [f for f in files if f.uri.rsplit("/", 1)[-1].startswith("_SUCCESS-")]
        shards = None
        if markers:  # an unreadable marker: counted as complete, so never removed
            shards = _shards_of(storage.read_bytes(markers[0].uri)) or len(markers)
        runs.append(
            RunDirectory(
                run_id=name.removeprefix(RUN_PREFIX),
                uri=uri,
                files=len(files),
                size=sum(f.size for f in files),
                markers=len(markers),
                shards=shards,
                last_modified=max((f.modified for f in files), default=0.0),
            )
        )
    return runs


def _shards_of(marker: bytes | None) -> int | None:
    """The shard count a marker names; None if the marker is unreadable."""
    try:
        shards = json.loads(marker or b"{}").get("run", {}).get("shards", 1)
        return int(shards) if int(shards) >= 1 else None
    except (ValueError, TypeError, AttributeError, RecursionError):
        return None


def collect(
    output: str,
    *,
    delete: bool = False,
    min_age_s: float = DEFAULT_MIN_AGE_S,
    now: float | None = None,
) -> list[RunDirectory]:
    """The abandoned runs under ``output`` (removed when ``delete``)."""
    storage = storage_for(output)
    moment = time.time() if now is None else now
    abandoned = [r for r in find_runs(output, storage) if r.abandoned(moment, min_age_s)]
    if delete:
        for run in abandoned:
            for f in storage.list_files(run.uri) or []:
                storage.delete(f.uri)
    return abandoned


def unfinished_others(output: str, run_id: str, storage: Storage) -> list[str]:
    """Run ids under ``output``, other than ``run_id``, that are not complete."""
    return [r.run_id for r in find_runs(output, storage) if r.run_id != run_id and not r.complete]


def add_gc_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("output", help="the job's --output (a directory or s3://bucket/prefix/)")
    p.add_argument(
        "--min-age-hours",
        type=float,
        default=DEFAULT_MIN_AGE_S / 3600,
        help="an unfinished run counts as abandoned after this long unchanged (default 24)",
    )
    p.add_argument("--delete", action="store_true", help="remove them (default: list only)")


def run_gc(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    runs = collect(args.output, delete=args.delete, min_age_s=args.min_age_hours * 3600)
    verb = "removed" if args.delete else "would remove (dry run; pass --delete)"
    for run in runs:
        age_h = (time.time() - run.last_modified) / 3600
        shards = f"{run.markers}/{run.shards}" if run.shards else "0"
        print(
            f"{verb}: {run.uri}  {run.files} files, {run.size / 1e6:.1f} MB, shards done "
            f"{shards}, unchanged {age_h:.1f} h",
            file=out,
        )
    if not runs:
        print(f"no abandoned runs under {args.output}", file=out)
    return 0

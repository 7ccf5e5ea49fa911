"""Names of everything a run writes, and the identity that decides which run a file is of.

A run is (model version, input objects with their size and ETag/mtime, shard count, id
and text fields, output format). Its files live under ``<output>/run-<run_id>/``:

    part-<shard>-<seq>.<jsonl|parquet>   output rows; seq = checkpoint number
    rejects-<shard>-<seq>.jsonl          rejected records of that interval (if any)
    _checkpoint-<shard>.json             progress (or under --checkpoint PREFIX/run-<id>/)
    summary-<shard>.json                 the latest summary of the shard
    _SUCCESS-<shard>.json                written last: the shard is complete; lists its files

Names are deterministic, so a retry rewrites the same names instead of adding new ones.
A new input or a new model version is a new run id, hence a fresh directory: a nightly
schedule over a changed input never mixes with yesterday's files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from batch.shards import ShardSpec
from batch.storage import ObjectInfo, join


def run_identity(
    *,
    model_version: str,
    inputs: Sequence[ObjectInfo],
    shards: int,
    id_field: str,
    text_field: str,
    output_format: str,
) -> dict[str, Any]:
    return {
        "model_version": model_version,
        "inputs": [[o.uri, o.size, o.tag] for o in inputs],
        "shards": shards,
        "id_field": id_field,
        "text_field": text_field,
        "output_format": output_format,
    }


def run_id_of(identity: dict[str, Any]) -> str:
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class RunLayout:
    output: str
    run_id: str
    shard: ShardSpec
    output_format: str
    checkpoint_prefix: str | None = None

    @property
    def run_dir(self) -> str:
        return join(self.output, f"run-{self.run_id}")

    @property
    def _tag(self) -> str:
        return f"{self.shard.index:05d}"

    def part_name(self, seq: int) -> str:
        return f"part-{self._tag}-{seq:06d}.{self.output_format}"

    def rejects_name(self, seq: int) -> str:
        return f"rejects-{self._tag}-{seq:06d}.jsonl"

    def part(self, seq: int) -> str:
        return join(self.run_dir, self.part_name(seq))

    def rejects(self, seq: int) -> str:
        return join(self.run_dir, self.rejects_name(seq))

    @property
    def checkpoint(self) -> str:
        if self.checkpoint_prefix:
            return join(
                self.checkpoint_prefix, f"run-{self.run_id}", f"checkpoint-{self._tag}.json"
            )
        return join(self.run_dir, f"_checkpoint-{self._tag}.json")

    @property
    def lease(self) -> str:
        """Who is processing the shard now (:mod:`batch.lease`), next to its checkpoint."""
        if self.checkpoint_prefix:
            return join(self.checkpoint_prefix, f"run-{self.run_id}", f"lease-{self._tag}.json")
        return join(self.run_dir, f"_lease-{self._tag}.json")

    @property
    def summary(self) -> str:
        return join(self.run_dir, f"summary-{self._tag}.json")

    @property
    def marker(self) -> str:
        return join(self.run_dir, f"_SUCCESS-{self._tag}.json")

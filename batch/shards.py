"""Which records belong to which shard.

Rule: record ``r`` (0-based, in input order, across every input file; blank JSONL lines
are not records) belongs to shard ``r mod N``. Why by record number and not by a hash of
the id:

* a malformed line has no id, yet must land in exactly one shard's rejects;
* shards are balanced whatever the ids look like (a hash of skewed ids is balanced too,
  but duplicate ids all land in one shard);
* a shard decides membership from a counter, without parsing the other shards' lines.

The cost: every shard streams the whole input (it parses only its own records). Reading
is far cheaper than inference, so this is a few percent of a shard's time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from batch.exceptions import ShardSpecError

ENV_ARRAY_INDEX = "AWS_BATCH_JOB_ARRAY_INDEX"
ENV_ARRAY_SIZE = "AWS_BATCH_JOB_ARRAY_SIZE"


@dataclass(frozen=True)
class ShardSpec:
    """Shard ``index`` of ``count`` (``0 <= index < count``)."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ShardSpecError(f"shard count must be >= 1, got {self.count}")
        if not 0 <= self.index < self.count:
            raise ShardSpecError(
                f"shard index must be in 0..{self.count - 1} for {self.count} shards, "
                f"got {self.index}"
            )

    def owns(self, record: int) -> bool:
        return record % self.count == self.index

    def position(self, record: int) -> int:
        """Index of ``record`` among this shard's records (0, 1, 2, ...)."""
        return record // self.count

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> ShardSpec:
    """``"I/N"`` -> ShardSpec(I, N)."""
    index, sep, count = text.partition("/")
    try:
        if not sep:
            raise ValueError
        return ShardSpec(int(index), int(count))
    except ValueError:
        raise ShardSpecError(
            f"--shard must look like I/N (e.g. 0/4, the first of 4 shards), got {text!r}"
        ) from None


def resolve_shard(
    shard: str | None, shards: int | None, env: Mapping[str, str] | None = None
) -> ShardSpec:
    """Explicit ``--shard I/N`` first; else the AWS Batch array index with the array size
    from ``--shards N`` or ``AWS_BATCH_JOB_ARRAY_SIZE``; else the single shard 0/1."""
    env = os.environ if env is None else env
    if shard is not None:
        spec = parse_shard(shard)
        if shards is not None and shards != spec.count:
            raise ShardSpecError(f"--shard {shard} contradicts --shards {shards}")
        return spec
    env_size = _env_int(env, ENV_ARRAY_SIZE)
    if shards is not None and env_size is not None and shards != env_size:
        raise ShardSpecError(
            f"--shards {shards} contradicts {ENV_ARRAY_SIZE}={env_size}; the job definition "
            "and the submitted array size must agree or records would be missed or doubled"
        )
    count = shards if shards is not None else env_size
    index = _env_int(env, ENV_ARRAY_INDEX)
    if index is None:
        if count not in (None, 1):
            raise ShardSpecError(
                f"{count} shards but no shard index: pass --shard I/{count}, or run as an "
                f"AWS Batch array job (which sets {ENV_ARRAY_INDEX})"
            )
        return ShardSpec(0, 1)
    if count is None:
        raise ShardSpecError(
            f"{ENV_ARRAY_INDEX}={index} is set but the shard count is unknown: pass "
            f"--shards N (the array size) or set {ENV_ARRAY_SIZE}"
        )
    return ShardSpec(index, count)


def _env_int(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ShardSpecError(f"{name} must be an integer, got {raw!r}") from None

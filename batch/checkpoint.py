"""The checkpoint: how far a shard got, committed atomically after each interval.

Commit order for interval ``seq``: part file -> rejects file -> cache -> checkpoint. A
crash before the checkpoint leaves it at ``seq`` so the rerun redoes that interval under
the same names (overwriting, never duplicating); a crash after it moves on. The
checkpoint also pins the interval and chunk sizes of the run, so every attempt cuts the
same inference batches and computes bit-identical vectors.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from batch.exceptions import CheckpointError
from batch.readers import Position
from batch.storage import Storage

FORMAT = 1


@dataclass
class Counts:
    """Per shard, over all attempts. ``read = cached + predicted + recovered + rejected``."""

    read: int = 0  # records of this shard consumed (valid or not)
    cached: int = 0  # skipped: the cache held this model version's prediction
    predicted: int = 0  # inferred live
    recovered: int = 0  # taken from a part an interrupted attempt had already written
    rejected: int = 0
    written: int = 0  # cache entries newly written (existing ones are never overwritten)

    def add(self, other: Counts) -> None:
        for name in asdict(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Checkpoint:
    run_id: str
    shard: str
    interval: int  # records per checkpoint (the lattice intervals are cut on)
    chunk: int  # records per inference call inside an interval
    seq: int = 0  # the next part number
    next_index: int = 0  # this shard's next record index
    position: Position = field(default_factory=Position)
    counts: Counts = field(default_factory=Counts)
    reject_parts: list[int] = field(default_factory=list)
    elapsed_s: float = 0.0
    attempts: int = 0
    done: bool = False  # every record consumed (the marker may still be missing)

    def to_json(self) -> bytes:
        return json.dumps({"format": FORMAT, **asdict(self)}, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Checkpoint:
        try:
            raw: dict[str, Any] = json.loads(data)
            found = raw.pop("format")
            if found != FORMAT:
                raise ValueError(f"unsupported checkpoint format {found!r}")
            raw["position"] = Position(**raw["position"])
            raw["counts"] = Counts(**raw["counts"])
            return cls(**raw)
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(
                f"checkpoint {where} is unreadable ({exc}); delete it to restart the shard"
            ) from None


def load_checkpoint(storage: Storage, uri: str, run_id: str, shard: str) -> Checkpoint | None:
    data = storage.read_bytes(uri)
    if data is None:
        return None
    ckpt = Checkpoint.from_json(data, uri)
    if ckpt.run_id != run_id or ckpt.shard != shard:
        raise CheckpointError(
            f"checkpoint {uri} belongs to run {ckpt.run_id} shard {ckpt.shard}, not run "
            f"{run_id} shard {shard}; delete it or choose another --checkpoint prefix"
        )
    return ckpt


def save_checkpoint(storage: Storage, uri: str, ckpt: Checkpoint) -> None:
    storage.write_bytes(uri, ckpt.to_json())

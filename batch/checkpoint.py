"""The checkpoint: how far a shard got, committed atomically after each interval.

Commit order for interval ``seq``: part file -> rejects file -> cache -> checkpoint. A
crash before the checkpoint leaves it at ``seq`` so the rerun redoes that interval under
the same names (overwriting, never duplicating); a crash after it moves on. The
checkpoint also pins the interval and chunk sizes of the run, so every attempt cuts the
same chunks and part names.

Verified commits: every committed part is recorded with its row count, byte size and
sha256, and with the shard's state just before it (:class:`CommittedPart`), so a part found
damaged later (truncated, overwritten, missing) is recomputed from exactly that state.
The checkpoint carries the sha256 of its own body: a checkpoint edited or damaged in place
is detected, never trusted. It also carries the content digest of the input consumed so far
(:mod:`batch.input_digest`), which a resume checks before it reads on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from batch.exceptions import CheckpointError, DamagedCheckpointError
from batch.readers import Position
from batch.storage import Storage

FORMAT = 3  # 2: part digests and the body's own sha256; 3: + the input's content digests


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
class CommittedPart:
    """A part as committed, and the shard's state just before its interval."""

    seq: int
    name: str
    rows: int
    size: int  # bytes
    sha256: str
    start_index: int
    start_position: Position
    counts_before: Counts
    rejects_before: int  # len(reject_parts) before this interval
    input_before: list[str] = field(default_factory=list)  # Checkpoint.input_sha256 before it

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> CommittedPart:
        raw = dict(raw)
        raw["start_position"] = Position(**raw["start_position"])
        raw["counts_before"] = Counts(**raw["counts_before"])
        return cls(**raw)

    def matches(self, data: bytes | None) -> bool:
        return (
            data is not None
            and len(data) == self.size
            and hashlib.sha256(data).hexdigest() == self.sha256
        )


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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
    parts: list[CommittedPart] = field(default_factory=list)
    # sha256 of each local JSONL input file read to its end, then of the current file up to
    # ``position`` (batch.input_digest); a resume re-reads that prefix and compares
    input_sha256: list[str] = field(default_factory=list)

    def to_json(self) -> bytes:
        body = _canonical({"format": FORMAT, **asdict(self)})
        return json.dumps({"sha256": digest(body), "body": json.loads(body)}, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Checkpoint:
        try:
            outer: dict[str, Any] = json.loads(data)
            raw: dict[str, Any] = outer["body"]
            if digest(_canonical(raw)) != outer["sha256"]:
                raise ValueError("its sha256 does not match its content")
            found = raw.pop("format")
            if found != FORMAT:
                raise ValueError(f"unsupported checkpoint format {found!r}")
            raw["position"] = Position(**raw["position"])
            raw["counts"] = Counts(**raw["counts"])
            raw["parts"] = [CommittedPart.from_raw(p) for p in raw["parts"]]
            return cls(**raw)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            raise DamagedCheckpointError(f"checkpoint {where} is unusable ({exc})") from None

    def rewind_to(self, part: CommittedPart) -> None:
        """Back to the state just before ``part``'s interval: it and later ones are redone."""
        self.seq = part.seq
        self.next_index = part.start_index
        self.position = part.start_position
        self.counts = Counts(**asdict(part.counts_before))
        self.reject_parts = self.reject_parts[: part.rejects_before]
        self.parts = [p for p in self.parts if p.seq < part.seq]
        self.input_sha256 = list(part.input_before)
        self.done = False


def _canonical(raw: dict[str, Any]) -> bytes:
    return json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()


def load_checkpoint(storage: Storage, uri: str, run_id: str, shard: str) -> Checkpoint | None:
    """The checkpoint, None if there is none. A damaged one raises :class:`CheckpointError`
    (the job then restarts the shard: every name is deterministic, nothing is lost)."""
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

"""Where an attempt of a shard starts, and what it may trust of earlier attempts' writes.

* a complete run (its marker) is re-verified part by part before a rerun is a no-op;
* the checkpoint is loaded only if its hash holds and its resume offset is a record
  boundary (otherwise discarded, logged: the shard restarts, nothing lost or doubled);
* committed parts are re-read at resume and at completion: the first damaged one rewinds
  the checkpoint to it, and its interval is recomputed, never recovered;
* the shard's records are streamed from the checkpoint's position;
* rows a killed attempt wrote before its checkpoint are recovered if they decode;
* at completion every input must still be what it was when the job began.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TextIO

from batch.checkpoint import Checkpoint, CommittedPart, load_checkpoint
from batch.chunks import RecoveredPart
from batch.exceptions import DamagedCheckpointError, InputChangedError
from batch.input_digest import InputDigest
from batch.layout import RunLayout
from batch.logs import JobLog
from batch.marker import damaged_marker_parts, read_marker
from batch.parts import decode_part
from batch.readers import RawRecord, hashes_content, iter_records
from batch.storage import ObjectInfo, Storage


class Resume:
    def __init__(
        self,
        *,
        inputs: Storage,
        files: list[ObjectInfo],
        input_format: str,
        outputs: Storage,
        checkpoints: Storage,
        layout: RunLayout,
        log: JobLog,
        out: TextIO,
    ) -> None:
        self.inputs = inputs
        self.files = files
        self.input_format = input_format
        self.outputs = outputs
        self.checkpoints = checkpoints
        self.layout = layout
        self.log = log
        self.out = out
        self.distrusted_seq: int | None = None  # a damaged part's seq: never recovered from

    def complete_marker(self) -> dict[str, Any] | None:
        """The marker of a complete run whose parts all still match it: nothing to do. A
        damaged complete run (parts truncated, overwritten, missing) is reported and None
        returned: its parts are recomputed from the checkpoint (the shard without one)."""
        marker = read_marker(self.outputs, self.layout)
        if marker is None:
            return None
        damaged = damaged_marker_parts(self.outputs, self.layout, marker)
        if not damaged:
            return marker
        run_id = self.layout.run_id
        self.log.event(
            "complete_run_damaged",
            run_id=run_id,
            parts=damaged,
            action="recomputing the damaged parts, then rewriting the marker",
        )
        print(
            f"shard {self.layout.shard} of run {run_id} was complete, but "
            f"{len(damaged)} part(s) no longer match its marker ({', '.join(damaged[:5])}"
            f"{', ...' if len(damaged) > 5 else ''}): recomputing them",
            file=self.out,
            flush=True,
        )
        return None

    def load_checkpoint(self) -> Checkpoint | None:
        """The checkpoint, if usable. A damaged one (bad JSON or hash, a resume offset that is
        not a record boundary) is discarded with a logged event: the shard restarts, and since
        every name is deterministic and cache entries immutable, nothing is lost or doubled."""
        layout = self.layout
        try:
            ckpt = load_checkpoint(
                self.checkpoints, layout.checkpoint, layout.run_id, str(layout.shard)
            )
            if ckpt is not None:
                self._check_boundary(ckpt)
            return ckpt
        except DamagedCheckpointError as exc:
            self.log.event("checkpoint_discarded", reason=str(exc), checkpoint=layout.checkpoint)
            return None

    def _check_boundary(self, ckpt: Checkpoint) -> None:
        pos = ckpt.position
        if pos.file > len(self.files) or (pos.file == len(self.files) and pos.offset):
            raise DamagedCheckpointError(f"resume file {pos.file} is past the input's files")
        if self.input_format != "jsonl" or pos.offset == 0 or pos.file == len(self.files):
            return
        obj = self.files[pos.file]
        if pos.offset > obj.size:
            raise DamagedCheckpointError(f"resume offset {pos.offset} is past {obj.uri}'s end")
        if pos.offset == obj.size:
            return  # the last line may end without a newline
        stream = self.inputs.open_stream(obj, pos.offset - 1)
        try:
            before = stream.read(1)
        finally:
            stream.close()
        if before != b"\n":
            raise DamagedCheckpointError(
                f"resume offset {pos.offset} in {obj.uri} is not at the start of a line"
            )

    def records(
        self, ckpt: Checkpoint, *, id_field: str, text_field: str
    ) -> tuple[Iterator[RawRecord], InputDigest | None]:
        """This shard's records from the checkpoint's position, and the digest of the bytes
        consumed (local JSONL: the prefix already read is re-read and checked against the
        checkpoint's digests first); None where the reader hashes nothing."""
        digest = InputDigest() if hashes_content(self.input_format, self.files) else None
        records = iter_records(
            self.inputs,
            self.files,
            self.input_format,
            self.layout.shard,
            ckpt.position,
            id_field=id_field,
            text_field=text_field,
            digest=digest,
            expected=ckpt.input_sha256,
        )
        return records, digest

    def first_damaged_part(self, ckpt: Checkpoint) -> CommittedPart | None:
        """Re-read every committed part; the first whose size or sha256 differs, if any."""
        for part in ckpt.parts:
            if not part.matches(self.outputs.read_bytes(self.layout.part(part.seq))):
                return part
        return None

    def rewind_if_damaged(self, ckpt: Checkpoint, when: str) -> bool:
        damaged = self.first_damaged_part(ckpt)
        if damaged is None:
            return False
        self.log.event(
            "part_damaged",
            part=damaged.name,
            seq=damaged.seq,
            found_at=when,
            action=f"recomputing from interval {damaged.seq}",
        )
        ckpt.rewind_to(damaged)
        self.distrusted_seq = damaged.seq
        return True

    def recover(self, seq: int) -> RecoveredPart | None:
        """Rows a killed attempt wrote for interval ``seq`` before its checkpoint, if they
        decode; a damaged or distrusted part is discarded (logged) and recomputed."""
        uri = self.layout.part(seq)
        data = self.outputs.read_bytes(uri)
        if data is None:
            return None
        if seq == self.distrusted_seq:
            return None
        try:
            ids, vectors = decode_part(self.layout.output_format, data)
        except Exception as exc:  # noqa: BLE001 - any undecodable part is recomputed, not fatal
            self.log.event("part_discarded", part=uri, seq=seq, reason=f"{type(exc).__name__}")
            return None
        return RecoveredPart(ids, vectors)

    def note_refused(self, seq: int) -> None:
        """The part recovered for interval ``seq`` holds rows this host would not compute."""
        self.log.event(
            "part_discarded",
            part=self.layout.part(seq),
            seq=seq,
            reason="its rows differ from what this host computes (written by another "
            "host kind or plan): recomputed",
        )

    def check_inputs_unchanged(self) -> None:
        """At completion: every input still has the size and tag it had when the job began
        (an edit made while the job read it changes a local file's ctime, an object's ETag)."""
        for obj in self.files:
            now = self.inputs.info(obj.uri)
            if (now.size, now.tag) != (obj.size, obj.tag):
                raise InputChangedError(
                    f"{obj.uri} changed while the job was reading it (size or "
                    f"{'ETag' if obj.content_tagged else 'mtime/ctime/inode'} differ); rerun "
                    "the job: a changed input starts a new run"
                )

    def note_unfinished_runs(self) -> None:
        """A new run next to older unfinished ones (input or model changed): say so once."""
        from batch.gc import unfinished_others

        output = self.layout.output
        others = unfinished_others(output, self.layout.run_id, self.outputs)
        if others:
            self.log.event(
                "older_unfinished_runs",
                runs=others,
                hint=f"`precast batch gc {output}` lists them (--delete removes)",
            )

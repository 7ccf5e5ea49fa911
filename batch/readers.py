"""Stream one shard's records out of JSONL or Parquet inputs, from a checkpointed position.

Reading is incremental: JSONL in 1 MiB blocks split into lines, Parquet one record batch
at a time (only the id and text columns). Memory stays flat whatever the input size.
Every record carries the :class:`Position` just after it, so a checkpoint can say
exactly where a rerun resumes: a byte offset (JSONL) or a row (Parquet) in one file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from batch.exceptions import InputFormatError
from batch.input_digest import InputDigest, changed, file_digest
from batch.shards import ShardSpec
from batch.storage import ObjectInfo, Readable, Storage

BLOCK = 1 << 20
MAX_LINE_BYTES = 16 << 20  # longer lines are rejected without being held in memory
PARQUET_BATCH_ROWS = 4096
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True, slots=True)
class Position:
    """Where reading resumes: ``offset`` is a byte (JSONL) or row (Parquet) in input file
    ``file``; ``line`` counts lines already read in that file; ``record`` is the global
    number of the next record (over all files, all shards)."""

    file: int = 0
    offset: int = 0
    line: int = 0
    record: int = 0


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record of this shard, not yet validated.

    ``number`` is the global record number, ``index`` its position among this shard's
    records; ``line`` (JSONL, 1-based) or ``row`` (Parquet, 0-based) locate it in ``file``.
    ``payload`` is the raw line (None if longer than MAX_LINE_BYTES) or ``(id, text)``.
    """

    number: int
    index: int
    file: str
    line: int | None
    row: int | None
    payload: bytes | tuple[Any, Any] | None
    after: Position


def format_of(uri: str) -> str:
    name = uri.rstrip("/").rsplit("/", 1)[-1].lower()
    for ext, fmt in FORMATS.items():
        if name.endswith(ext):
            return fmt
    raise InputFormatError(
        f"cannot tell the format of {uri!r} from its extension. Choices are: {'|'.join(FORMATS)}"
    )


def resolve_inputs(storage: Storage, uri: str) -> tuple[list[ObjectInfo], str]:
    """One file, or every JSONL/Parquet file directly under a directory/prefix (by name)."""
    name = uri.rstrip("/").rsplit("/", 1)[-1].lower()
    if not uri.endswith("/") and name.endswith(tuple(FORMATS)):
        return [storage.info(uri)], format_of(uri)
    listed = storage.list_files(uri)
    if listed is None:
        return [storage.info(uri)], format_of(uri)
    files = [o for o in listed if o.uri.lower().endswith(tuple(FORMATS))]
    if not files:
        raise InputFormatError(f"{uri} holds no {'|'.join(FORMATS)} files")
    formats = {format_of(o.uri) for o in files}
    if len(formats) > 1:
        raise InputFormatError(f"{uri} mixes formats {sorted(formats)}; use one per input")
    return files, formats.pop()


def hashes_content(fmt: str, files: Sequence[ObjectInfo]) -> bool:
    """Whether the reader hashes what it consumes (:mod:`batch.input_digest`): JSONL inputs
    whose tags are metadata (local files); S3 ETags already change with the content."""
    return fmt == "jsonl" and not any(o.content_tagged for o in files)


def iter_records(
    storage: Storage,
    files: Sequence[ObjectInfo],
    fmt: str,
    shard: ShardSpec,
    start: Position,
    *,
    id_field: str,
    text_field: str,
    digest: InputDigest | None = None,
    expected: Sequence[str] = (),
) -> Iterator[RawRecord]:
    """This shard's records from ``start``. With ``digest`` (JSONL only) the bytes consumed
    are hashed into it, and the prefix before ``start`` is re-read and checked against
    ``expected`` (the digests the checkpoint recorded at ``start``)."""
    if fmt == "jsonl":
        return _iter_jsonl(storage, files, shard, start, digest, expected)
    return _iter_parquet(storage, files, shard, start, id_field, text_field)


def iter_lines(
    stream: Readable, digest: InputDigest | None = None
) -> Iterator[tuple[bytes | None, int]]:
    """``(line without its newline, bytes consumed)``; line is None if it was too long.
    With ``digest``, exactly the bytes consumed so far are hashed whenever a line is out."""
    hashed = digest.update if digest is not None else _discard
    tail = b""
    skipping = 0  # > 0: inside an over-long line, this many bytes consumed so far
    while True:
        block = stream.read(BLOCK)
        if not block:
            break
        if skipping:
            cut = block.find(b"\n")
            if cut < 0:
                skipping += len(block)
                hashed(block)
                continue
            hashed(block[: cut + 1])
            yield None, skipping + cut + 1
            skipping, block = 0, block[cut + 1 :]
        pieces = (tail + block).split(b"\n")
        tail = pieces.pop()
        for piece in pieces:
            hashed(piece)
            hashed(b"\n")
            yield piece, len(piece) + 1
        if len(tail) > MAX_LINE_BYTES:
            hashed(tail)
            skipping, tail = len(tail), b""
    if skipping:
        yield None, skipping
    elif tail:
        hashed(tail)
        yield tail, len(tail)


def _discard(data: bytes) -> None:
    """No digest: nothing to hash."""


def _iter_jsonl(
    storage: Storage,
    files: Sequence[ObjectInfo],
    shard: ShardSpec,
    start: Position,
    digest: InputDigest | None,
    expected: Sequence[str],
) -> Iterator[RawRecord]:
    record = start.record
    count, index = shard.count, shard.index
    if digest is not None:
        _verify_done_files(storage, files, start.file, digest, expected)
    for f in range(start.file, len(files)):
        offset = start.offset if f == start.file else 0
        line = start.line if f == start.file else 0
        uri = files[f].uri
        if digest is not None:  # read the consumed prefix once more, hashed, not parsed
            digest.start_file()
            stream = storage.open_stream(files[f], 0)
        else:
            stream = storage.open_stream(files[f], offset)
        try:
            if digest is not None and offset:
                digest.verify_prefix(stream, files[f], offset, expected, f)
            for text, consumed in iter_lines(stream, digest):
                line += 1
                offset += consumed
                if text is not None and (not text or text.isspace()):
                    continue  # blank lines are not records
                number = record
                record += 1
                if number % count != index:
                    continue
                after = Position(f, offset, line, record)
                if digest is not None:
                    digest.mark()
                yield RawRecord(number, number // count, uri, line, None, text, after)
        finally:
            stream.close()


def _verify_done_files(
    storage: Storage,
    files: Sequence[ObjectInfo],
    upto: int,
    digest: InputDigest,
    expected: Sequence[str],
) -> None:
    """Files an earlier attempt read to the end: hashed once more, compared, skipped."""
    for f in range(upto):
        stream = storage.open_stream(files[f], 0)
        try:
            found = file_digest(stream)
        finally:
            stream.close()
        if f < len(expected) and found != expected[f]:
            raise changed(files[f], None)
        digest.skip_file(found)


def _iter_parquet(
    storage: Storage,
    files: Sequence[ObjectInfo],
    shard: ShardSpec,
    start: Position,
    id_field: str,
    text_field: str,
) -> Iterator[RawRecord]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    record = start.record
    count, index = shard.count, shard.index
    for f in range(start.file, len(files)):
        first = start.offset if f == start.file else 0
        uri = files[f].uri
        fh = storage.open_seekable(files[f])
        try:
            try:
                pf = pq.ParquetFile(fh)
            except (pa.ArrowException, OSError) as exc:
                raise InputFormatError(f"{uri} is not a readable Parquet file: {exc}") from None
            names = pf.schema_arrow.names
            for column in (id_field, text_field):
                if column not in names:
                    raise InputFormatError(
                        f"{uri} has no column {column!r}; its columns are {names}. "
                        "Pass --id-field/--text-field."
                    )
            groups, row = _row_groups_from(pf, first)
            if not groups:
                continue
            columns = list(dict.fromkeys([id_field, text_field]))
            for batch in pf.iter_batches(
                batch_size=PARQUET_BATCH_ROWS, row_groups=groups, columns=columns
            ):
                ids = batch.column(id_field).to_pylist()
                texts = batch.column(text_field).to_pylist()
                for j in range(batch.num_rows):
                    if row < first:
                        row += 1
                        continue
                    number = record
                    record += 1
                    row += 1
                    if number % count != index:
                        continue
                    after = Position(f, row, 0, record)
                    payload = (ids[j], texts[j])
                    yield RawRecord(number, number // count, uri, None, row - 1, payload, after)
        finally:
            fh.close()


def _row_groups_from(pf: Any, first_row: int) -> tuple[list[int], int]:
    """Row groups that hold rows >= ``first_row``, and the file row the first one starts at."""
    groups: list[int] = []
    base = None
    row = 0
    for g in range(pf.num_row_groups):
        n = pf.metadata.row_group(g).num_rows
        if row + n > first_row:
            groups.append(g)
            base = row if base is None else base
        row += n
    return groups, (row if base is None else base)

"""Streaming readers: lines split across blocks, over-long lines, resuming from any record."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import batch.readers as readers
from batch.exceptions import InputFormatError
from batch.readers import Position, iter_lines, iter_records, resolve_inputs
from batch.shards import ShardSpec
from batch.storage import LocalStorage
from tests.batch.job_io import short_texts, write_jsonl


def test_iter_lines_handles_lines_across_blocks_and_no_final_newline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """GIVEN lines longer than the read block WHEN split THEN lines and byte counts are exact."""
    monkeypatch.setattr(readers, "BLOCK", 7)
    data = b"first line\n\nsecond, a longer line\nlast"
    got = list(iter_lines(io.BytesIO(data)))
    assert [line for line, _ in got] == data.split(b"\n")
    assert sum(n for _, n in got) == len(data)


def test_over_long_line_is_skipped_without_buffering(monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a line over MAX_LINE_BYTES WHEN read THEN it comes back as None, the rest intact."""
    monkeypatch.setattr(readers, "BLOCK", 8)
    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 16)
    data = b"ok\n" + b"x" * 100 + b"\nafter\n"
    got = list(iter_lines(io.BytesIO(data)))
    assert got == [(b"ok", 3), (None, 101), (b"after", 6)]


def _all(storage: LocalStorage, uri: str, spec: ShardSpec, start: Position) -> list[int]:
    files, fmt = resolve_inputs(storage, uri)
    return [
        r.number
        for r in iter_records(storage, files, fmt, spec, start, id_field="id", text_field="text")
    ]


def _positions(storage: LocalStorage, uri: str, spec: ShardSpec) -> list[tuple[int, Position]]:
    files, fmt = resolve_inputs(storage, uri)
    return [
        (r.number, r.after)
        for r in iter_records(
            storage, files, fmt, spec, Position(), id_field="id", text_field="text"
        )
    ]


def _check_resume_from_every_record(uri: str, spec: ShardSpec) -> None:
    storage = LocalStorage()
    full = _all(storage, uri, spec, Position())
    assert full
    for i, (_, after) in enumerate(_positions(storage, uri, spec)):
        assert _all(storage, uri, spec, after) == full[i + 1 :]


def test_jsonl_resume_from_any_position_continues_exactly(tmp_path: Path) -> None:
    """GIVEN a directory of two JSONL files WHEN reading resumes after any record of shard 1/3
    THEN it yields exactly the records that followed."""
    texts = short_texts(40)
    write_jsonl(tmp_path / "a.jsonl", [{"id": i, "text": t} for i, t in enumerate(texts[:25])])
    write_jsonl(tmp_path / "b.jsonl", [{"id": i, "text": t} for i, t in enumerate(texts[25:])])
    _check_resume_from_every_record(str(tmp_path), ShardSpec(1, 3))


def test_parquet_resume_across_row_groups_and_files(tmp_path: Path) -> None:
    """GIVEN Parquet files with several row groups WHEN reading resumes after any record
    THEN it yields exactly the records that followed."""
    texts = short_texts(50)
    for name, part in (("a.parquet", texts[:30]), ("b.parquet", texts[30:])):
        table = pa.table({"id": list(range(len(part))), "text": part})
        pq.write_table(table, tmp_path / name, row_group_size=7)
    _check_resume_from_every_record(str(tmp_path), ShardSpec(0, 2))


def test_parquet_missing_column_is_a_clear_error(tmp_path: Path) -> None:
    """GIVEN Parquet without the text column WHEN read THEN the error lists its columns."""
    pq.write_table(pa.table({"id": [1], "body": ["x"]}), tmp_path / "in.parquet")
    with pytest.raises(InputFormatError, match="body"):
        _all(LocalStorage(), str(tmp_path / "in.parquet"), ShardSpec(), Position())


def test_unknown_extension_and_mixed_directory_are_rejected(tmp_path: Path) -> None:
    """GIVEN an input that is neither JSONL nor Parquet WHEN resolved THEN the error says so."""
    (tmp_path / "in.csv").write_text("id,text\n")
    with pytest.raises(InputFormatError, match="Choices are"):
        resolve_inputs(LocalStorage(), str(tmp_path / "in.csv"))
    write_jsonl(tmp_path / "a.jsonl", [{"id": 1, "text": "a"}])
    pq.write_table(pa.table({"id": [1], "text": ["x"]}), tmp_path / "b.parquet")
    with pytest.raises(InputFormatError, match="mixes formats"):
        resolve_inputs(LocalStorage(), str(tmp_path))


def _digest_run(
    storage: LocalStorage, uri: str, start: Position, expected: list[str], stop_after: int
) -> tuple[list[int], Position, list[str]]:
    """Records from ``start`` with an InputDigest; digests and position after ``stop_after``."""
    from batch.input_digest import InputDigest

    files, fmt = resolve_inputs(storage, uri)
    digest = InputDigest()
    got: list[int] = []
    position = start
    spec = ShardSpec(1, 2)
    records = iter_records(
        storage, files, fmt, spec, start, id_field="id", text_field="text",
        digest=digest, expected=expected,
    )  # fmt: skip
    for r in records:
        got.append(r.number)
        position = r.after
        if len(got) == stop_after:
            return got, position, digest.digests()
    return got, position, digest.full()


def test_the_consumed_prefix_is_hashed_as_read_and_checked_on_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN two JSONL files read by shard 1/2 (small blocks, so lines straddle them) and
    the digests recorded after its 7th record (in the second file) WHEN the read resumes
    there THEN it yields exactly the rest, and ends with each file's sha256; WHEN instead
    one byte before that position was edited (size kept) THEN the resume raises
    InputChangedError naming the file, and an edit after the position goes unnoticed until
    it is read (it is then part of what the digest describes)."""
    import hashlib

    from batch.exceptions import InputChangedError

    monkeypatch.setattr(readers, "BLOCK", 16)
    texts = short_texts(16)
    write_jsonl(tmp_path / "a.jsonl", [{"id": i, "text": t} for i, t in enumerate(texts[:8])])
    write_jsonl(tmp_path / "b.jsonl", [{"id": i, "text": t} for i, t in enumerate(texts[8:])])
    storage, uri = LocalStorage(), str(tmp_path)
    whole, _, full = _digest_run(storage, uri, Position(), [], stop_after=-1)
    files = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    assert full == [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]
    first, position, recorded = _digest_run(storage, uri, Position(), [], stop_after=5)
    assert position.file == 1 and len(recorded) == 2
    rest, _, again = _digest_run(storage, uri, position, recorded, stop_after=-1)
    assert first + rest == whole and again == full

    b = files[1]
    data = bytearray(b.read_bytes())
    data[position.offset - 3] ^= 0x01  # inside the consumed prefix of b, size unchanged
    b.write_bytes(bytes(data))
    with pytest.raises(InputChangedError, match=r"b\.jsonl changed since this run read it"):
        _digest_run(storage, uri, position, recorded, stop_after=-1)
    a = files[0]
    a.write_bytes(a.read_bytes().replace(b'"id": 0', b'"id": 9'))
    with pytest.raises(InputChangedError, match=r"a\.jsonl changed .*its content no longer"):
        _digest_run(storage, uri, position, recorded, stop_after=-1)

"""Sharding: deterministic, disjoint, and together exactly the input, for several N."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batch.exceptions import ShardSpecError
from batch.readers import Position, iter_records, resolve_inputs
from batch.shards import ShardSpec, parse_shard, resolve_shard
from batch.storage import LocalStorage
from tests.batch.job_io import short_texts, write_jsonl


@pytest.fixture(scope="module")
def mixed_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """131 lines: records, malformed lines and blank lines (which are not records)."""
    rows: list[object] = []
    for i, text in enumerate(short_texts(120)):
        rows.append({"id": i, "text": text})
        if i % 11 == 0:
            rows.append("{broken")
        if i % 17 == 0:
            rows.append("")
    return write_jsonl(tmp_path_factory.mktemp("shards") / "in.jsonl", rows)  # type: ignore[arg-type]


def _record_numbers(path: Path, spec: ShardSpec) -> list[int]:
    storage = LocalStorage()
    files, fmt = resolve_inputs(storage, str(path))
    return [
        r.number
        for r in iter_records(
            storage, files, fmt, spec, Position(), id_field="id", text_field="text"
        )
    ]


@pytest.mark.parametrize("count", [1, 2, 3, 7, 16])
def test_shards_are_disjoint_and_cover_the_input_exactly(mixed_input: Path, count: int) -> None:
    """GIVEN an input with malformed and blank lines WHEN it is read as N shards
    THEN every record is in exactly one shard and no shard is off by more than one."""
    lines = mixed_input.read_text().splitlines()
    records = sum(1 for line in lines if line.strip())
    per_shard = [_record_numbers(mixed_input, ShardSpec(i, count)) for i in range(count)]
    merged = sorted(n for numbers in per_shard for n in numbers)
    assert merged == list(range(records))
    sizes = [len(s) for s in per_shard]
    assert max(sizes) - min(sizes) <= 1


def test_shard_assignment_is_deterministic(mixed_input: Path) -> None:
    """GIVEN the same input WHEN shard 1/3 is read twice THEN it gets the same records."""
    assert _record_numbers(mixed_input, ShardSpec(1, 3)) == _record_numbers(
        mixed_input, ShardSpec(1, 3)
    )


def test_malformed_lines_belong_to_a_shard(mixed_input: Path) -> None:
    """GIVEN malformed lines WHEN the input is sharded THEN each one is some shard's record."""
    storage = LocalStorage()
    files, fmt = resolve_inputs(storage, str(mixed_input))
    payloads = [
        r.payload
        for i in range(3)
        for r in iter_records(
            storage, files, fmt, ShardSpec(i, 3), Position(), id_field="id", text_field="text"
        )
    ]
    broken = sum(1 for line in mixed_input.read_text().splitlines() if line == "{broken")
    assert payloads.count(b"{broken") == broken > 0


def test_parse_shard() -> None:
    """GIVEN I/N text WHEN parsed THEN index and count; bad forms say what is expected."""
    assert parse_shard("2/5") == ShardSpec(2, 5)
    for bad in ("2", "a/b", "5/5", "-1/3", "0/0"):
        with pytest.raises(ShardSpecError):
            parse_shard(bad)


def test_resolve_shard_from_aws_batch_environment() -> None:
    """GIVEN AWS Batch's array variables WHEN no --shard is given THEN they pick the shard."""
    env = {"AWS_BATCH_JOB_ARRAY_INDEX": "3", "AWS_BATCH_JOB_ARRAY_SIZE": "4"}
    assert resolve_shard(None, None, env) == ShardSpec(3, 4)
    assert resolve_shard(None, 4, {"AWS_BATCH_JOB_ARRAY_INDEX": "1"}) == ShardSpec(1, 4)
    assert resolve_shard("0/2", None, env) == ShardSpec(0, 2)  # explicit wins
    assert resolve_shard(None, None, {}) == ShardSpec(0, 1)


@pytest.mark.parametrize(
    ("shard", "shards", "env", "fragment"),
    [
        (None, None, {"AWS_BATCH_JOB_ARRAY_INDEX": "1"}, "--shards N"),
        (None, 3, {}, "no shard index"),
        (
            None,
            3,
            {"AWS_BATCH_JOB_ARRAY_INDEX": "0", "AWS_BATCH_JOB_ARRAY_SIZE": "4"},
            "contradicts",
        ),
        ("0/2", 3, {}, "contradicts"),
        (
            None,
            None,
            {"AWS_BATCH_JOB_ARRAY_INDEX": "x", "AWS_BATCH_JOB_ARRAY_SIZE": "2"},
            "integer",
        ),
    ],
)
def test_resolve_shard_errors_say_what_to_do(
    shard: str | None, shards: int | None, env: dict[str, str], fragment: str
) -> None:
    """GIVEN an incomplete or contradictory shard spec WHEN resolved THEN a clear error."""
    with pytest.raises(ShardSpecError, match=fragment):
        resolve_shard(shard, shards, env)


def test_blank_lines_do_not_shift_line_numbers(tmp_path: Path) -> None:
    """GIVEN blank lines WHEN read THEN line numbers are the file's, records skip blanks."""
    path = tmp_path / "in.jsonl"
    path.write_text('\n{"id": 1, "text": "a"}\n\n\n{"id": 2, "text": "b"}\n')
    storage = LocalStorage()
    files, fmt = resolve_inputs(storage, str(path))
    got = [
        (r.number, r.line, json.loads(r.payload or b"{}")["id"])  # type: ignore[arg-type]
        for r in iter_records(
            storage, files, fmt, ShardSpec(), Position(), id_field="id", text_field="text"
        )
    ]
    assert got == [(0, 2, 1), (1, 5, 2)]

"""Output parts and settings: exact float32 round trips, empty parts, validated settings."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from batch.arguments import add_run_arguments, settings_from_args
from batch.parts import decode_part, encode_part
from batch.settings import JobSettingsError
from batch.shards import ShardSpec


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_part_round_trip_is_bit_exact(fmt: str) -> None:
    """GIVEN float32 vectors with tiny, negative and zero values WHEN encoded and decoded
    THEN ids and every bit of every vector come back."""
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((1500, 16)).astype(np.float32)  # > one formatting slice
    vectors[0, :4] = [1e-38, -0.0, 3.4e38, 1.0000001]
    ids: list[str | int] = [f"id-{i}" if i % 2 else i for i in range(1500)]
    ids_back, vectors_back = decode_part(fmt, encode_part(fmt, ids, vectors, "v1"))
    assert [str(i) for i in ids_back] == [str(i) for i in ids]
    assert vectors_back.dtype == np.float32
    assert vectors_back.tobytes() == vectors.tobytes()


def test_jsonl_part_rows_are_plain_json() -> None:
    """GIVEN one row WHEN written as JSONL THEN it is a JSON object with the three fields."""
    line = encode_part("jsonl", ['a"b'], np.array([[0.5, -0.25]], dtype=np.float32), "v9")
    assert json.loads(line) == {"id": 'a"b', "model_version": "v9", "embedding": [0.5, -0.25]}


def test_parquet_ids_keep_integer_type() -> None:
    """GIVEN integer ids WHEN written as Parquet THEN they read back as integers."""
    ids, _ = decode_part(
        "parquet", encode_part("parquet", [3, 1], np.ones((2, 4), np.float32), "v")
    )
    assert ids == [3, 1]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_empty_part_is_valid(fmt: str) -> None:
    """GIVEN an interval whose records were all rejected WHEN its part is written
    THEN the part is a valid, empty file of the format."""
    ids, vectors = decode_part(fmt, encode_part(fmt, [], np.empty((0, 8), np.float32), "v"))
    assert ids == [] and len(vectors) == 0


def _parse(argv: list[str], env: dict[str, str] | None = None, **defaults: object):  # type: ignore[no-untyped-def]
    parser = argparse.ArgumentParser()
    add_run_arguments(parser)
    return settings_from_args(parser.parse_args(argv), defaults=defaults, env=env or {})


def test_settings_resolution_order() -> None:
    """GIVEN a flag, an env var and a config default for the cache WHEN resolved
    THEN the flag wins, then the environment, then the config."""
    base = ["--input", "in.jsonl", "--output", "out"]
    env = {"PRECAST_CACHE_URL": "dynamodb:t", "PRECAST_CACHE_TTL_S": "60"}
    assert _parse([*base, "--cache", "sqlite:x"], env, cache="sqlite:y").cache_url == "sqlite:x"
    from_env = _parse(base, env, cache="sqlite:y")
    assert (from_env.cache_url, from_env.ttl_s) == ("dynamodb:t", 60.0)
    assert _parse(base, {}, cache="sqlite:y").cache_url == "sqlite:y"
    assert _parse([*base, "--cache", "none"], env).cache_url is None
    assert _parse(base, {}).artifact == "/opt/artifact"
    assert _parse(base, {"AWS_BATCH_JOB_ARRAY_INDEX": "2"}, shards=3).shard == ShardSpec(2, 3)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--checkpoint-every", "0"], "checkpoint-every"),
        (["--error-budget", "1.5"], "error-budget"),
        (["--cache", "redis:x"], "Choices are"),
        (["--chunk-size", "0"], "chunk-size"),
    ],
)
def test_bad_settings_are_rejected_with_the_limit(argv: list[str], fragment: str) -> None:
    """GIVEN an out-of-range setting WHEN resolved THEN the error names it and the limit."""
    with pytest.raises(JobSettingsError, match=fragment):
        _parse(["--input", "in.jsonl", "--output", "out", *argv])


def test_missing_input_is_reported() -> None:
    """GIVEN no --input and no config default WHEN resolved THEN the error asks for it."""
    with pytest.raises(JobSettingsError, match="input is required"):
        _parse(["--output", "out"])

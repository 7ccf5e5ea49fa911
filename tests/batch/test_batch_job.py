"""The job end to end, in process, on the real sample model and real text."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from batch import exit_codes
from batch.job import run_job
from batch.settings import JobSettings
from batch.shards import ShardSpec
from tests.batch.job_io import (
    input_with_rejects,
    read_rows,
    read_sqlite_cache,
    run_dir,
    short_texts,
    write_jsonl,
)


def run(
    artifact: Path, source: Path, output: Path, **kwargs: Any
) -> tuple[int, list[dict[str, Any]]]:
    log = io.StringIO()
    settings = JobSettings(artifact=str(artifact), input=str(source), output=str(output), **kwargs)
    code = run_job(settings, log_stream=log, out=io.StringIO())
    return code, [json.loads(line) for line in log.getvalue().splitlines()]


def summary_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    (summary,) = [e for e in events if e["event"] == "summary"]
    return summary


def test_output_equals_the_edge_runtime_and_rejects_are_listed(
    artifact: Path, sample_model: Any, tmp_path: Path
) -> None:
    """GIVEN 150 texts and a few bad lines WHEN the job runs in one chunk without a cache
    THEN every valid id appears once with exactly EdgeModel.predict's vector, and every bad
    line is in the rejects file with its line number and reason."""
    source, ids, bad = input_with_rejects(tmp_path / "in.jsonl", 150)
    code, events = run(
        artifact, source, tmp_path / "out", checkpoint_every=1000, chunk_size=1000, error_budget=0.1
    )
    assert code == exit_codes.OK
    directory = run_dir(tmp_path / "out")
    rows = read_rows(directory)
    assert sorted(r[0] for r in rows) == sorted(ids)
    lines = source.read_text().splitlines()
    texts = {
        json.loads(x)["id"]: json.loads(x)["text"] for x in lines if x.startswith('{"id": "doc')
    }
    expected = sample_model.predict([texts[i] for i in ids], enforce_limits=False)
    by_id = dict(rows)
    got = np.stack([np.frombuffer(by_id[i], dtype="<f4") for i in ids])
    assert got.tobytes() == expected.tobytes()
    rejects = [
        json.loads(x) for x in (directory / "rejects-00000-000000.jsonl").read_text().splitlines()
    ]
    assert len(rejects) == bad
    for r in rejects:
        assert r["reason"] in {"malformed_json", "empty_text", "missing_id"}
        assert lines[r["line"] - 1] != "" and r["file"] == str(source)
    summary = summary_of(events)
    assert (summary["records"], summary["rejected"], summary["predicted"]) == (
        len(ids) + bad,
        bad,
        len(ids),
    )
    assert summary["status"] == "complete"
    logged = {k: v for k, v in summary.items() if k not in ("ts", "event")}
    assert json.loads((directory / "summary-00000.json").read_text()) == logged


def test_every_reject_reason_and_the_error_budget(artifact: Path, tmp_path: Path) -> None:
    """GIVEN one record of each bad kind WHEN the budget is 0 THEN the job finishes, lists
    every reject, exits 3 without a success marker; a rerun with a larger budget completes
    without inferring again."""
    good = [{"id": i, "text": t} for i, t in enumerate(short_texts(12))]
    bad: list[Any] = [
        "{oops",
        "[1, 2]",
        {"text": "no id"},
        {"id": ["a"], "text": "list id"},
        {"id": "no-text"},
        {"id": "int-text", "text": 5},
        {"id": "blank", "text": " \t "},
        {"id": "long", "text": "word " * 2000},
    ]
    source = write_jsonl(tmp_path / "in.jsonl", good + bad)
    code, events = run(artifact, source, tmp_path / "out", error_budget=0.0)
    assert code == exit_codes.ERROR_BUDGET
    directory = run_dir(tmp_path / "out")
    assert not (directory / "_SUCCESS-00000.json").exists()
    reasons = [
        json.loads(x)["reason"]
        for x in (directory / "rejects-00000-000000.jsonl").read_text().splitlines()
    ]
    assert reasons == [
        "malformed_json",
        "not_an_object",
        "missing_id",
        "bad_id",
        "missing_text",
        "bad_text",
        "empty_text",
        "max_chars",
    ]
    failed = summary_of(events)
    assert failed["status"] == "failed" and "error budget" in failed["error"]

    code, events = run(artifact, source, tmp_path / "out", error_budget=0.5)
    assert code == exit_codes.OK
    assert summary_of(events)["predicted"] == 12 and summary_of(events)["attempts"] == 2
    assert not [e for e in events if e["event"] == "checkpoint"]  # nothing redone
    assert (directory / "_SUCCESS-00000.json").exists()


def test_models_that_do_not_truncate_reject_long_texts(artifact_copy: Path, tmp_path: Path) -> None:
    """GIVEN a model whose manifest says truncate=false WHEN a text exceeds max_tokens
    THEN only that record is rejected with reason max_tokens."""
    manifest = json.loads((artifact_copy / "manifest.json").read_text())
    manifest["limits"]["truncate"] = False
    (artifact_copy / "manifest.json").write_text(json.dumps(manifest))
    texts = short_texts(6)
    rows = [{"id": i, "text": t} for i, t in enumerate(texts)]
    rows.insert(3, {"id": "too-long", "text": "token " * 600})
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    code, events = run(artifact_copy, source, tmp_path / "out", error_budget=0.5)
    assert code == exit_codes.OK
    directory = run_dir(tmp_path / "out")
    (reject,) = [
        json.loads(x) for x in (directory / "rejects-00000-000000.jsonl").read_text().splitlines()
    ]
    assert (reject["id"], reject["reason"], reject["line"]) == ("too-long", "max_tokens", 4)
    assert sorted(r[0] for r in read_rows(directory)) == list(range(6))


def test_second_run_skips_everything_cached(artifact: Path, tmp_path: Path) -> None:
    """GIVEN a completed run that filled the cache WHEN the same texts run again into a new
    output THEN nothing is inferred and the vectors equal the first run's; with
    --no-skip-cached everything is inferred again and no cache entry is overwritten."""
    source = write_jsonl(
        tmp_path / "in.jsonl", [{"id": i, "text": t} for i, t in enumerate(short_texts(90))]
    )
    cache = tmp_path / "cache.sqlite"
    kw: dict[str, Any] = {"cache_url": f"sqlite:{cache}", "checkpoint_every": 40, "chunk_size": 20}
    code, first = run(artifact, source, tmp_path / "a", **kw)
    assert code == 0 and summary_of(first)["predicted"] == 90
    assert summary_of(first)["cache_written"] == len(read_sqlite_cache(cache)) == 90
    before = read_sqlite_cache(cache)

    code, second = run(artifact, source, tmp_path / "b", **kw)
    s = summary_of(second)
    assert code == 0 and (s["predicted"], s["skipped_cached"], s["cache_written"]) == (0, 90, 0)
    assert read_rows(run_dir(tmp_path / "b")) == read_rows(run_dir(tmp_path / "a"))

    code, third = run(artifact, source, tmp_path / "c", skip_cached=False, **kw)
    s = summary_of(third)
    assert code == 0 and (s["predicted"], s["skipped_cached"], s["cache_written"]) == (90, 0, 0)
    assert read_sqlite_cache(cache) == before


def test_parquet_in_parquet_out_matches_jsonl(artifact: Path, tmp_path: Path) -> None:
    """GIVEN the same records as Parquet (small row groups) and as JSONL WHEN both run
    THEN the Parquet output has integer ids and the very same vectors as the JSONL output."""
    texts = short_texts(70)
    pq.write_table(
        pa.table({"id": list(range(70)), "text": texts}), tmp_path / "in.parquet", row_group_size=16
    )
    write_jsonl(tmp_path / "in.jsonl", [{"id": i, "text": t} for i, t in enumerate(texts)])
    kw: dict[str, Any] = {"checkpoint_every": 30, "chunk_size": 15}
    assert run(artifact, tmp_path / "in.parquet", tmp_path / "pq", **kw)[0] == 0
    assert run(artifact, tmp_path / "in.jsonl", tmp_path / "js", **kw)[0] == 0
    directory = run_dir(tmp_path / "pq")
    parts = sorted(directory.glob("part-*.parquet"))
    assert len(parts) == 3
    table = pq.read_table(parts[0])
    assert table.schema.field("id").type == pa.int64()
    assert table.schema.field("embedding").type == pa.list_(pa.float32(), 384)
    assert read_rows(directory) == read_rows(run_dir(tmp_path / "js"))


def test_rerunning_a_complete_shard_is_a_no_op(artifact: Path, tmp_path: Path) -> None:
    """GIVEN a complete shard WHEN it runs again THEN it exits 0 at once and touches nothing."""
    source = write_jsonl(
        tmp_path / "in.jsonl", [{"id": i, "text": t} for i, t in enumerate(short_texts(20))]
    )
    assert run(artifact, source, tmp_path / "out")[0] == 0
    directory = run_dir(tmp_path / "out")
    stamps = {p.name: p.stat().st_mtime_ns for p in directory.iterdir()}
    code, events = run(artifact, source, tmp_path / "out")
    assert code == 0 and [e["event"] for e in events] == ["already_complete"]
    assert {p.name: p.stat().st_mtime_ns for p in directory.iterdir()} == stamps


def test_a_changed_input_is_a_new_run(artifact: Path, tmp_path: Path) -> None:
    """GIVEN a completed run WHEN the input file is replaced THEN the next run writes a new
    run directory and leaves the old one as it was."""
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": 1, "text": "first version"}])
    assert run(artifact, source, tmp_path / "out")[0] == 0
    before = source.stat()
    write_jsonl(source, [{"id": 1, "text": "second version"}, {"id": 2, "text": "new"}])
    # a new mtime whatever the file system's timestamp granularity (no sleep)
    os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns + 2_000_000_000))
    assert run(artifact, source, tmp_path / "out")[0] == 0
    dirs = sorted(p for p in (tmp_path / "out").iterdir())
    assert len(dirs) == 2
    assert sorted(len(read_rows(d)) for d in dirs) == [1, 2]


def test_shards_of_a_run_cover_every_record_once(artifact: Path, tmp_path: Path) -> None:
    """GIVEN 3 shards of one input WHEN each runs THEN they share one run directory and
    output rows plus rejects hold every record exactly once."""
    source, ids, bad = input_with_rejects(tmp_path / "in.jsonl", 100)
    for i in range(3):
        code, _ = run(
            artifact,
            source,
            tmp_path / "out",
            shard=ShardSpec(i, 3),
            error_budget=0.2,
            checkpoint_every=16,
            chunk_size=8,
        )
        assert code == 0
    directory = run_dir(tmp_path / "out")
    out_ids = [r[0] for shard in range(3) for r in read_rows(directory, shard)]
    assert sorted(out_ids) == sorted(ids)
    rejected = [
        json.loads(x)["record"]
        for p in directory.glob("rejects-*.jsonl")
        for x in p.read_text().splitlines()
    ]
    assert len(rejected) == len(set(rejected)) == bad


def test_precast_cli_takes_defaults_from_precast_toml(
    artifact: Path, repo_root: Path, tmp_path: Path
) -> None:
    """GIVEN precast.toml with a [models.minilm.batch] table WHEN `precast batch run minilm`
    runs with only --input/--output THEN it uses the config's cache, TTL, fields and
    checkpoint interval, and the latest artifact."""
    from precast.cli import main

    config = (repo_root / "precast.toml").read_text()
    config = config.replace(
        'artifacts_dir = "artifacts"', f'artifacts_dir = "{artifact.parents[1]}"'
    )
    config = config.replace('id_field = "id"', 'id_field = "key"')
    config = config.replace("checkpoint_every = 1000", "checkpoint_every = 7")
    (tmp_path / "precast.toml").write_text(config)
    shutil.copy(repo_root / "precast.toml", tmp_path / "original.toml")  # untouched reference
    source = write_jsonl(
        tmp_path / "in.jsonl", [{"key": f"k{i}", "text": t} for i, t in enumerate(short_texts(15))]
    )
    env_before = os.environ.pop("PRECAST_CACHE_URL", None)
    try:
        code = main(
            [
                "--config",
                str(tmp_path / "precast.toml"),
                "batch",
                "run",
                "minilm",
                "--input",
                str(source),
                "--output",
                str(tmp_path / "out"),
            ]
        )
    finally:
        if env_before is not None:
            os.environ["PRECAST_CACHE_URL"] = env_before
    assert code == 0
    directory = run_dir(tmp_path / "out")
    assert len(list(directory.glob("part-*.jsonl"))) == 3  # 15 records / 7 per checkpoint
    cache = read_sqlite_cache(tmp_path / ".precast" / "cache.sqlite")
    assert len(cache) == 15
    import sqlite3

    conn = sqlite3.connect(tmp_path / ".precast" / "cache.sqlite")
    (expires,) = conn.execute("SELECT MIN(expires_at - created_at) FROM predictions").fetchone()
    conn.close()
    assert expires == pytest.approx(30 * 86_400, abs=1)


def test_unreachable_cache_exits_75_and_the_retry_completes(
    artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a DynamoDB cache nobody answers for WHEN the job runs THEN reads fall back to
    live inference, the first commit cannot write the cache, and the job exits 75 without
    advancing its checkpoint; a retry with a working cache completes from the start."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    source = write_jsonl(
        tmp_path / "in.jsonl", [{"id": i, "text": t} for i, t in enumerate(short_texts(12))]
    )
    dead = "dynamodb:t?endpoint=http://127.0.0.1:9&region=us-east-1&failures=1&timeout_s=0.2"
    code, events = run(artifact, source, tmp_path / "out", cache_url=dead, checkpoint_every=5)
    assert code == exit_codes.CACHE_UNAVAILABLE
    assert [e for e in events if e["event"] == "cache_read_error"]
    assert not [e for e in events if e["event"] == "checkpoint"]
    directory = run_dir(tmp_path / "out")
    assert not (directory / "_checkpoint-00000.json").exists()
    assert (directory / "part-00000-000000.jsonl").exists()

    cache = f"sqlite:{tmp_path / 'cache.sqlite'}"
    code, events = run(artifact, source, tmp_path / "out", cache_url=cache, checkpoint_every=5)
    assert code == 0
    s = summary_of(events)
    assert (s["recovered"], s["predicted"], s["cache_written"]) == (5, 7, 12)
    assert len(read_rows(directory)) == 12

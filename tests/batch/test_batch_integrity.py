"""Storage that misbehaves between attempts: damaged parts and checkpoints never lose rows.

Each case damages what an interrupted attempt left (a committed part truncated, an
uncommitted part cut mid-line, a checkpoint edited) and asserts that the next attempt
notices it (a logged event, never a traceback), recomputes what it must, and ends with
output rows and cache bit-identical to an uninterrupted run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from batch.checkpoint import digest
from batch.crashpoints import ENV_CRASH_AT, PAUSED_EVENT
from tests.batch.job_io import (
    CRASH_FLAGS,
    KILL,
    TERM,
    JobProcess,
    Outcome,
    batch_args,
    outcome,
    read_rows,
    run_dir,
    run_to_end,
    short_texts,
    write_jsonl,
)
from tests.batch.job_io import (
    crash_job_args as job_args,
)

pytestmark = [pytest.mark.slow, pytest.mark.crash]
RECORDS = 300
FLAGS = CRASH_FLAGS


def killed_at(args: list[str], point: str) -> JobProcess:
    job = JobProcess(args, env={ENV_CRASH_AT: point})
    assert job.finish() == -KILL
    return job


def part_path(where: Path, seq: int) -> Path:
    (found,) = (run_dir(where / "out")).glob(f"part-00000-{seq:06d}.jsonl")
    return found


def checkpoint_path(where: Path) -> Path:
    return run_dir(where / "out") / "_checkpoint-00000.json"


def test_a_truncated_committed_part_is_recomputed_on_resume(
    artifact: Path, crash_input: Path, baseline: Outcome, tmp_path: Path
) -> None:
    """GIVEN an attempt killed after its 3rd checkpoint WHEN part 1 (committed) is cut in
    half before the rerun THEN the rerun logs part_damaged at resume, recomputes from
    interval 1, and rows and cache equal the uninterrupted run's; the marker lists digests."""
    args = job_args(artifact, crash_input, tmp_path)
    killed_at(args, "after_checkpoint:3")
    part = part_path(tmp_path, 1)
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    final = run_to_end(args)
    (damaged,) = final.named("part_damaged")
    assert damaged["seq"] == 1 and damaged["found_at"] == "resume"
    assert outcome(tmp_path) == baseline
    marker = json.loads((run_dir(tmp_path / "out") / "_SUCCESS-00000.json").read_text())
    assert marker["verified"]["rows"] == RECORDS
    for entry in marker["part_digests"]:
        data = (run_dir(tmp_path / "out") / entry["name"]).read_bytes()
        assert (len(data), digest(data)) == (entry["bytes"], entry["sha256"])


def test_a_part_damaged_while_the_job_runs_is_caught_before_the_marker(
    artifact: Path, crash_input: Path, baseline: Outcome, tmp_path: Path
) -> None:
    """GIVEN a job held after its 12th chunk WHEN part 0 is overwritten meanwhile, then the
    job is released THEN its completion check logs part_damaged, it recomputes from
    interval 0 before writing _SUCCESS, and rows and cache equal the uninterrupted run's."""
    args = job_args(artifact, crash_input, tmp_path)
    job = JobProcess(args, pause_at="after_chunk:12", fifo_dir=tmp_path)
    assert job.wait_for(PAUSED_EVENT)
    part_path(tmp_path, 0).write_bytes(b'{"id": "doc-0", "embedding": []}\n')
    job.release()
    assert job.finish() == 0, "".join(job.stderr)[-2000:]
    (damaged,) = job.named("part_damaged")
    assert damaged["seq"] == 0 and damaged["found_at"] == "completion"
    assert outcome(tmp_path) == baseline


def test_an_uncommitted_part_cut_mid_line_is_discarded_not_fatal(
    artifact: Path, crash_input: Path, baseline: Outcome, tmp_path: Path
) -> None:
    """GIVEN an attempt killed after writing part 1 but before its checkpoint WHEN that part
    is cut mid-line THEN the rerun logs part_discarded (no traceback), recomputes it, exits
    0, and rows and cache equal the uninterrupted run's."""
    args = job_args(artifact, crash_input, tmp_path)
    killed_at(args, "after_part:2")
    part = part_path(tmp_path, 1)
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2 + 7])
    final = run_to_end(args)
    (discarded,) = final.named("part_discarded")
    assert discarded["seq"] == 1
    assert "Traceback" not in "".join(final.stderr)
    assert outcome(tmp_path) == baseline


@pytest.mark.parametrize("rehash", [False, True], ids=["edited", "edited-and-rehashed"])
def test_a_checkpoint_whose_offset_moved_is_discarded(
    artifact: Path, crash_input: Path, baseline: Outcome, tmp_path: Path, rehash: bool
) -> None:
    """GIVEN an attempt killed after its 2nd checkpoint WHEN the checkpoint's resume offset
    is moved back 40 bytes (with its sha256 left stale, or recomputed so it is "valid")
    THEN the rerun logs checkpoint_discarded (hash, or not a line start), restarts the
    shard, and rows and cache equal the uninterrupted run's: no fragment becomes a record."""
    args = job_args(artifact, crash_input, tmp_path)
    killed_at(args, "after_checkpoint:2")
    path = checkpoint_path(tmp_path)
    outer = json.loads(path.read_text())
    outer["body"]["position"]["offset"] -= 40
    if rehash:
        body = json.dumps(outer["body"], sort_keys=True, separators=(",", ":")).encode()
        outer["sha256"] = digest(body)
    path.write_text(json.dumps(outer))
    final = run_to_end(args)
    (discarded,) = final.named("checkpoint_discarded")
    assert ("not at the start of a line" in discarded["reason"]) == rehash
    assert ("sha256" in discarded["reason"]) != rehash
    assert outcome(tmp_path) == baseline


def test_sigterm_with_a_text_repeated_in_its_interval_changes_nothing(
    artifact: Path, tmp_path: Path
) -> None:
    """GIVEN an input where texts repeat inside checkpoint intervals WHEN the job gets
    SIGTERM after chunk 3 and is rerun THEN rows and cache equal an uninterrupted run's
    (each text's vector is its own, whatever its chunk: no first-prediction-wins drift)."""
    texts = short_texts(60)
    rows = [{"id": f"r{i}", "text": texts[i % 60 if i % 7 else 0]} for i in range(200)]
    source = write_jsonl(tmp_path / "repeats.jsonl", rows)
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    run_to_end(job_args(artifact, source, whole))
    args = job_args(artifact, source, parts)
    job = JobProcess(args, pause_at="after_chunk:3", fifo_dir=tmp_path)
    assert job.wait_for(PAUSED_EVENT)
    job.signal(TERM)
    job.release()
    assert job.finish() == 143
    run_to_end(args)
    assert outcome(parts) == outcome(whole)


def test_s3_unreachable_after_retries_exits_75_for_aws_batch_to_retry(
    artifact: Path, tmp_path: Path
) -> None:
    """GIVEN an S3 endpoint that refuses connections (an outage longer than botocore's
    adaptive retries) WHEN the job starts THEN it exits 75, which the job definition
    retries, with an error that says to retry, not 1 (a manual rerun) and no traceback."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    args = batch_args(artifact, "s3://inputs/texts.jsonl", tmp_path / "out", None)
    job = JobProcess(args, env=env)
    assert job.finish() == 75, "".join(job.stderr)[-2000:]
    (error,) = job.named("error")
    assert error["kind"] == "TransientStorageError" and "retry the job" in error["error"]
    assert "Traceback" not in "".join(job.stderr)


def test_a_local_input_edited_in_place_with_its_mtime_restored_is_a_new_run(
    artifact: Path, sample_model: Any, tmp_path: Path
) -> None:
    """GIVEN a completed run WHEN one row's text is replaced by another of the same length
    and the file's mtime is put back THEN the next run is a new run (ctime and inode are in
    the input's identity) and that row carries the new text's vector."""
    import os

    import numpy as np

    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "text": "alpha beta"}])
    out = tmp_path / "out"
    run_to_end(batch_args(artifact, source, out, None))
    before = source.stat()
    write_jsonl(source, [{"id": "a", "text": "gamma zeta"}])  # same size
    os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert source.stat().st_size == before.st_size
    run_to_end(batch_args(artifact, source, out, None))
    dirs = sorted(p for p in out.iterdir() if p.name.startswith("run-"))
    assert len(dirs) == 2
    rows = [dict(read_rows(d)) for d in dirs]
    expected = np.asarray(sample_model.predict(["gamma zeta"])[0], dtype="<f4").tobytes()
    assert expected in [r["a"] for r in rows]


def test_gc_lists_and_removes_abandoned_runs_and_keeps_complete_ones(
    artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN an output with a complete run and an unfinished one (killed, its input since
    replaced) WHEN the new run starts THEN it logs older_unfinished_runs naming the old run;
    `python -m batch gc` lists only the unfinished one (dry run: nothing removed), keeps it
    while younger than --min-age-hours, and --delete removes it and only it."""
    from batch.__main__ import main as batch_main

    out = tmp_path / "out"
    old_input = write_jsonl(tmp_path / "old.jsonl", [{"id": i, "text": t} for i, t in
                                                     enumerate(short_texts(90))])  # fmt: skip
    killed_at(batch_args(artifact, old_input, out, None, *FLAGS), "after_checkpoint:1")
    (old_run,) = [p.name for p in out.iterdir()]
    new_input = write_jsonl(tmp_path / "new.jsonl", [{"id": 1, "text": "fresh"}])
    job = run_to_end(batch_args(artifact, new_input, out, None))
    (note,) = job.named("older_unfinished_runs")
    assert note["runs"] == [old_run.removeprefix("run-")]

    assert batch_main(["gc", str(out)]) == 0
    assert "no abandoned runs" in capsys.readouterr().out  # younger than a day
    assert batch_main(["gc", str(out), "--min-age-hours", "0"]) == 0
    listed = capsys.readouterr().out
    assert old_run in listed and "dry run" in listed and (out / old_run).exists()
    assert batch_main(["gc", str(out), "--min-age-hours", "0", "--delete"]) == 0
    assert "removed" in capsys.readouterr().out
    remaining = sorted(p.name for p in out.iterdir())
    assert old_run not in remaining and len(remaining) == 1
    assert (out / remaining[0] / "_SUCCESS-00000.json").exists()


# -- fencing: one attempt per shard at a time -----------------------------------------------


def lease_path(where: Path) -> Path:
    return run_dir(where / "out") / "_lease-00000.json"


def foreign_lease(expires_in_s: float) -> str:
    import time

    return json.dumps(
        {"attempt": "elsewhere", "host": "another-host", "pid": 1, "batch_job": "",
         "expires_at": time.time() + expires_in_s}
    )  # fmt: skip


def test_a_second_attempt_while_the_first_is_alive_exits_75_and_touches_nothing(
    artifact: Path, crash_input: Path, baseline: Outcome, tmp_path: Path
) -> None:
    """GIVEN attempt A held after chunk 3 (so it holds the shard's lease) WHEN attempt B of the
    same shard starts THEN B exits 75 with lease_held naming A, writes no part, checkpoint or
    summary; A, released, finishes, and rows and cache equal the uninterrupted run's."""
    args = job_args(artifact, crash_input, tmp_path)
    a = JobProcess(args, pause_at="after_chunk:3", fifo_dir=tmp_path)
    assert a.wait_for(PAUSED_EVENT)
    before = {p.name: p.stat().st_mtime_ns for p in run_dir(tmp_path / "out").iterdir()}
    b = JobProcess(args)
    assert b.finish() == 75, "".join(b.stderr)[-2000:]
    (held,) = b.named("lease_held")
    assert "processed by attempt" in held["error"]
    assert not b.named("checkpoint") and not b.named("summary")
    after = {p.name: p.stat().st_mtime_ns for p in run_dir(tmp_path / "out").iterdir()}
    assert after == before
    a.release()
    assert a.finish() == 0
    assert not lease_path(tmp_path).exists()
    assert outcome(tmp_path) == baseline


def test_an_attempt_whose_lease_was_taken_over_stops_before_committing(
    artifact: Path, crash_input: Path, baseline: Outcome, tmp_path: Path
) -> None:
    """GIVEN attempt A held after chunk 3 WHEN another host takes the shard's lease over
    meanwhile (A stalled past its TTL) and A goes on THEN A's next renewal fails: it exits 75
    with lease_lost and commits nothing more, not even a summary; once the other holder is
    gone, a rerun ends with rows and cache equal to the uninterrupted run's."""
    args = job_args(artifact, crash_input, tmp_path)
    a = JobProcess(args, pause_at="after_chunk:3", fifo_dir=tmp_path)
    assert a.wait_for(PAUSED_EVENT)
    committed = len(a.named("checkpoint"))
    lease_path(tmp_path).write_text(foreign_lease(3600))
    a.release()
    assert a.finish() == 75
    (lost,) = a.named("lease_lost")
    assert "another-host" in lost["error"] and "fenced" in lost["error"]
    assert len(a.named("checkpoint")) == committed and not a.named("summary")
    assert "another-host" in lease_path(tmp_path).read_text()  # A left the holder's lease
    lease_path(tmp_path).unlink()  # the other holder finished (or died and expired)
    run_to_end(args)
    assert outcome(tmp_path) == baseline


@pytest.mark.parametrize("case", ["expired-foreign", "dead-local"])
def test_a_stale_lease_is_taken_over(
    artifact: Path, crash_input: Path, baseline: Outcome, tmp_path: Path, case: str
) -> None:
    """GIVEN a lease left behind by an attempt that is gone (another host's, expired; or a
    process of this host that was killed -9) WHEN a new attempt starts THEN it takes the
    lease over at once (lease_taken_over), finishes, and removes its lease."""
    args = job_args(artifact, crash_input, tmp_path)
    killed_at(args, "after_checkpoint:1")
    assert lease_path(tmp_path).exists()  # the killed attempt's own lease
    if case == "expired-foreign":
        lease_path(tmp_path).write_text(foreign_lease(-1))
    final = run_to_end(args)
    (taken,) = final.named("lease_taken_over")
    assert ("another-host" in taken["previous"]) == (case == "expired-foreign")
    assert not lease_path(tmp_path).exists()
    assert outcome(tmp_path) == baseline


def test_gc_never_removes_a_run_whose_marker_it_cannot_read(tmp_path: Path) -> None:
    """GIVEN a run directory whose _SUCCESS marker is damaged (not JSON, nested too deep)
    WHEN gc runs with --min-age-hours 0 --delete THEN it keeps the run: a marker means
    results, and gc only removes what is provably unfinished."""
    from batch.__main__ import main as batch_main

    for i, junk in enumerate([b"{not json", b"[" * 100_000]):
        run = tmp_path / "out" / f"run-{i:016d}"
        run.mkdir(parents=True)
        (run / "part-00000-000000.jsonl").write_text("{}\n")
        (run / "_SUCCESS-00000.json").write_bytes(junk)
    assert batch_main(["gc", str(tmp_path / "out"), "--min-age-hours", "0", "--delete"]) == 0
    assert len(list((tmp_path / "out").iterdir())) == 2


def test_an_input_edit_that_keeps_size_mtime_and_ctime_is_caught_on_resume(
    artifact: Path, crash_input: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN an attempt killed after its 2nd checkpoint WHEN a byte the job had consumed is
    edited in place (size and mtime put back) and the filesystem reports the old identity
    (as one without ctime would: the one thing a test cannot reproduce unprivileged, so
    LocalStorage.info keeps answering the pre-edit stat) THEN the resume re-reads the
    consumed prefix, finds its sha256 differs from the checkpoint's, and stops with exit 1
    (InputChangedError, no traceback) without writing a part or a marker; once the content
    is put back the same run resumes, completes, and its marker lists the input's sha256."""
    import hashlib
    import io
    import os
    import shutil

    from batch.job import run_job
    from batch.settings import JobSettings
    from batch.storage import LocalStorage

    source = tmp_path / "in.jsonl"
    shutil.copy(crash_input, source)
    args = job_args(artifact, source, tmp_path)
    killed_at(args, "after_checkpoint:2")
    recorded = LocalStorage().info(str(source))
    stat = source.stat()
    parts_before = sorted(p.name for p in run_dir(tmp_path / "out").glob("part-*"))
    data = bytearray(source.read_bytes())
    data[data.index(b"doc-3")] = ord("D")  # a record of the first, committed interval
    source.write_bytes(bytes(data))
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    monkeypatch.setattr(LocalStorage, "info", lambda self, uri: recorded)
    settings = JobSettings(
        artifact=str(artifact), input=str(source), output=str(tmp_path / "out"),
        cache_url=f"sqlite:{tmp_path / 'cache.sqlite'}", checkpoint_every=40, chunk_size=20,
        error_budget=0.2, progress=False,
    )  # fmt: skip
    log = io.StringIO()
    assert run_job(settings, log_stream=log, out=io.StringIO()) == 1
    events = [json.loads(line) for line in log.getvalue().splitlines()]
    (summary,) = [e for e in events if e["event"] == "summary"]
    assert "changed since this run read it" in summary["error"]
    assert sorted(p.name for p in run_dir(tmp_path / "out").glob("part-*")) == parts_before
    assert not list(run_dir(tmp_path / "out").glob("_SUCCESS-*"))

    shutil.copy(crash_input, source)  # the content put back: the same run resumes and ends
    assert run_job(settings, log_stream=io.StringIO(), out=io.StringIO()) == 0
    marker = json.loads((run_dir(tmp_path / "out") / "_SUCCESS-00000.json").read_text())
    assert marker["input_sha256"] == [hashlib.sha256(crash_input.read_bytes()).hexdigest()]


def _truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _same_size(data: bytes) -> bytes:
    """One digit of a float changed: the size, the ids and the JSON stay valid."""
    middle = bytearray(data)
    at = next(i for i in range(len(middle) // 2, len(middle)) if chr(middle[i]).isdigit())
    middle[at] = ord("7") if middle[at] != ord("7") else ord("3")
    return bytes(middle)


@pytest.mark.parametrize("damage", ["truncated", "same-size", "missing"])
def test_a_complete_run_whose_last_part_was_damaged_is_repaired_on_rerun(
    artifact: Path, crash_input: Path, baseline: Outcome, tmp_path: Path, damage: str
) -> None:
    """GIVEN a run that completed WHEN its last part is then truncated, changed in place at
    the same size, or deleted (a damaged disk, a partial sync) and the same command runs
    again THEN the rerun checks the parts against the marker's digests, logs
    complete_run_damaged naming that part, recomputes it from the checkpoint, exits 0 with
    rows and cache equal to the uninterrupted run's; a third run finds it complete."""
    args = job_args(artifact, crash_input, tmp_path)
    run_to_end(args)
    directory = run_dir(tmp_path / "out")
    marker = json.loads((directory / "_SUCCESS-00000.json").read_text())
    last = directory / marker["parts"][-1]
    if damage == "missing":
        last.unlink()
    else:
        damaged = (_truncate if damage == "truncated" else _same_size)(last.read_bytes())
        assert damaged != last.read_bytes()
        last.write_bytes(damaged)
    rerun = run_to_end(args)
    assert not rerun.named("already_complete")
    (event,) = rerun.named("complete_run_damaged")
    assert event["parts"] == [last.name]
    (part,) = rerun.named("part_damaged")
    assert (part["part"], part["found_at"]) == (last.name, "rerun")
    assert outcome(tmp_path) == baseline
    assert run_to_end(args).named("already_complete")


def test_rows_recovered_from_an_interrupted_attempt_are_cached_with_computed_by(
    artifact: Path, crash_input: Path, baseline: Outcome, sample_model: Any, tmp_path: Path
) -> None:
    """GIVEN an attempt killed after writing an interval's part, before its cache entries
    and checkpoint WHEN the job is rerun THEN the rows it recovers from that part go into
    the cache through the same constructor as live ones: every entry records this host's
    computed_by (none is served as a legacy entry)."""
    args = job_args(artifact, crash_input, tmp_path)
    killed_at(args, "after_part:2")
    final = run_to_end(args)
    (summary,) = final.named("summary")
    assert summary["recovered"] > 0
    assert outcome(tmp_path) == baseline
    assert cache_tags(tmp_path / "cache.sqlite") == {sample_model.computed_by}


def test_a_recovered_part_this_host_would_not_compute_is_recomputed(
    artifact: Path, crash_input: Path, baseline: Outcome, sample_model: Any, tmp_path: Path
) -> None:
    """GIVEN an attempt killed after writing an interval's part WHEN that part's vectors are
    not what this host computes (as if another host kind wrote it: ids intact, one float
    changed) THEN the rerun discards it (part_discarded), recomputes the interval, and rows,
    cache and every entry's computed_by equal the uninterrupted run's."""
    args = job_args(artifact, crash_input, tmp_path)
    killed_at(args, "after_part:2")
    part = part_path(tmp_path, 1)
    part.write_bytes(
        _same_size(part.read_bytes()[: part.read_bytes().index(b"\n") + 1])
        + b"".join(part.read_bytes().splitlines(keepends=True)[1:])
    )
    final = run_to_end(args)
    (discarded,) = final.named("part_discarded")
    assert discarded["seq"] == 1 and "another host" in discarded["reason"]
    (summary,) = final.named("summary")
    assert summary["recovered"] == 0
    assert outcome(tmp_path) == baseline
    assert cache_tags(tmp_path / "cache.sqlite") == {sample_model.computed_by}


def cache_tags(path: Path) -> set[str]:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return {tag for (tag,) in conn.execute("SELECT DISTINCT computed_by FROM predictions")}
    finally:
        conn.close()

"""kill -9 and SIGTERM at chosen and at random points: the rerun ends exactly where an
uninterrupted run does. Output rows (ids and every vector bit) and cache contents equal,
no id twice. The job runs as `python -m batch run` in a subprocess, as on AWS Batch."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from batch.crashpoints import ENV_CRASH_AT, STEPS
from tests.batch.job_io import (
    KILL,
    TERM,
    JobProcess,
    batch_args,
    input_with_rejects,
    read_rows,
    read_sqlite_cache,
    run_dir,
    run_to_end,
)

pytestmark = pytest.mark.slow
RECORDS = 300
FLAGS = ("--checkpoint-every", "40", "--chunk-size", "20", "--error-budget", "0.2")


@dataclass(frozen=True)
class Outcome:
    rows: list[tuple[Any, bytes]]
    cache: dict[str, tuple[str, bytes]]


@pytest.fixture(scope="module")
def crash_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path, _, _ = input_with_rejects(tmp_path_factory.mktemp("crash") / "in.jsonl", RECORDS)
    return path


def job_args(artifact: Path, source: Path, where: Path) -> list[str]:
    return batch_args(artifact, source, where / "out", f"sqlite:{where / 'cache.sqlite'}", *FLAGS)


def outcome(where: Path) -> Outcome:
    rows = read_rows(run_dir(where / "out"))
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids)), "an id was written twice"
    return Outcome(rows, read_sqlite_cache(where / "cache.sqlite"))


@pytest.fixture(scope="module")
def baseline(
    artifact: Path, crash_input: Path, tmp_path_factory: pytest.TempPathFactory
) -> Outcome:
    where = tmp_path_factory.mktemp("baseline")
    job = run_to_end(job_args(artifact, crash_input, where))
    assert len(job.named("checkpoint")) >= 7
    result = outcome(where)
    assert len(result.rows) == RECORDS and len(result.cache) == RECORDS
    return result


@pytest.mark.parametrize(
    ("step", "interval"), [*((step, 2) for step in STEPS), ("mid_cache", 1), ("after_part", 1)]
)
def test_kill_9_at_each_commit_step(
    step: str, interval: int, artifact: Path, crash_input: Path, baseline: Outcome, tmp_path: Path
) -> None:
    """GIVEN a job killed with SIGKILL at one commit step of an interval WHEN it is run
    again to the end THEN output and cache equal the uninterrupted run's; an interval whose
    part was already written is recovered from that part, not recomputed."""
    args = job_args(artifact, crash_input, tmp_path)
    killed = JobProcess(args, env={ENV_CRASH_AT: f"{step}:{interval}"})
    assert killed.finish() == -KILL
    assert len(killed.named("checkpoint")) == interval - 1  # killed before logging it
    final = run_to_end(args)
    (start,) = final.named("start")
    committed = interval if step == "after_checkpoint" else interval - 1
    assert start["resume_seq"] == (committed or None)
    (summary,) = final.named("summary")
    assert (summary["recovered"] > 0) == (step != "after_checkpoint")
    assert outcome(tmp_path) == baseline


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_kill_9_at_random_points(
    seed: int, artifact: Path, crash_input: Path, baseline: Outcome, tmp_path: Path
) -> None:
    """GIVEN a job SIGKILLed at random moments, attempt after attempt WHEN it finally runs to
    the end THEN output and cache equal the uninterrupted run's."""
    rng = random.Random(seed)
    args = job_args(artifact, crash_input, tmp_path)
    kills = 0
    for _ in range(3):
        job = JobProcess(args)
        if not job.wait_for("checkpoint", rng.randint(1, 2)):
            assert job.finish() == 0
            break
        time.sleep(rng.uniform(0.0, 0.4))
        job.signal(KILL)
        code = job.finish()
        assert code in (0, -KILL)
        kills += code == -KILL
    final = run_to_end(args)
    assert kills >= 1
    assert final.named("summary") or final.named("already_complete")
    assert outcome(tmp_path) == baseline


@pytest.mark.parametrize("seed", [21, 22])
def test_sigterm_flushes_checkpoints_and_exits_143(
    seed: int, artifact: Path, crash_input: Path, baseline: Outcome, tmp_path: Path
) -> None:
    """GIVEN a spot reclaim notice (SIGTERM) at a random moment WHEN the job gets it
    THEN it commits the chunk in hand, exits 143 with an interrupted summary, and the
    retry finishes with output and cache equal to the uninterrupted run's."""
    rng = random.Random(seed)
    args = job_args(artifact, crash_input, tmp_path)
    job = JobProcess(args)
    assert job.wait_for("checkpoint", rng.randint(1, 3))
    time.sleep(rng.uniform(0.0, 0.3))
    job.signal(TERM)
    assert job.finish() == 143
    (interrupted,) = job.named("interrupted")
    assert job.named("stop_requested")
    assert job.named("checkpoint")[-1]["records"] == interrupted["records"]
    (summary,) = job.named("summary")
    assert summary["status"] == "interrupted" and summary["exit_code"] == 143
    assert not (run_dir(tmp_path / "out") / "_SUCCESS-00000.json").exists()
    final = run_to_end(args)
    (start,) = final.named("start")
    assert start["resume_record"] > 0
    assert final.named("summary")[0]["attempts"] == 2
    assert outcome(tmp_path) == baseline

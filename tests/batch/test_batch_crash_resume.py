"""kill -9 and SIGTERM at chosen and at random points: the rerun ends exactly where an
uninterrupted run does. Output rows (ids and every vector bit) and cache contents equal,
no id twice. The job runs as `python -m batch run` in a subprocess, as on AWS Batch."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from batch.crashpoints import ENV_CRASH_AT, PAUSED_EVENT, STEPS
from tests.batch.job_io import (
    CRASH_FLAGS,
    KILL,
    TERM,
    JobProcess,
    Outcome,
    outcome,
    run_dir,
    run_to_end,
)
from tests.batch.job_io import (
    crash_job_args as job_args,
)

pytestmark = pytest.mark.slow
RECORDS = 300
FLAGS = CRASH_FLAGS


@pytest.mark.crash
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


# Points every attempt reaches, whatever it resumed from: 300 records in chunks of 20 and
# intervals of 40 leave at least 7 chunks for the third attempt (each kill below lands by
# chunk 4 of its attempt). A point is (step, n): the n-th arrival at step in that attempt.
RANDOM_POINTS = {"after_chunk": 4, "after_part": 2, "after_cache": 2, "after_checkpoint": 2}


def draw_point(rng: random.Random) -> str:
    step = rng.choice(sorted(RANDOM_POINTS))
    return f"{step}:{rng.randint(1, RANDOM_POINTS[step])}"


@pytest.mark.crash
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_kill_9_at_random_points(
    seed: int, artifact: Path, crash_input: Path, baseline: Outcome, tmp_path: Path
) -> None:
    """GIVEN a job SIGKILLed at a random point of its own event sequence (chunk k inferred,
    part / cache / checkpoint of interval n written), attempt after attempt
    WHEN it finally runs to the end THEN output and cache equal the uninterrupted run's.
    Each kill lands while the job waits at its point: mid-run, asserted."""
    rng = random.Random(seed)
    args = job_args(artifact, crash_input, tmp_path)
    kills: list[str] = []
    for _ in range(3):
        point = draw_point(rng)
        job = JobProcess(args, pause_at=point, fifo_dir=tmp_path)
        assert job.wait_for(PAUSED_EVENT), f"the job ended before {point}: {job.stderr[-3:]}"
        job.signal(KILL)
        assert job.finish() == -KILL
        (paused,) = job.named(PAUSED_EVENT)
        assert f"{paused['step']}:{paused['n']}" == point
        assert not job.named("summary"), "the kill landed after the job finished"
        kills.append(point)
    final = run_to_end(args)
    assert len(kills) == 3
    assert final.named("summary")
    assert outcome(tmp_path) == baseline


@pytest.mark.crash
@pytest.mark.parametrize("seed", [21, 22])
def test_sigterm_flushes_checkpoints_and_exits_143(
    seed: int, artifact: Path, crash_input: Path, baseline: Outcome, tmp_path: Path
) -> None:
    """GIVEN a spot reclaim notice (SIGTERM) while the job waits after a random chunk
    WHEN the job goes on THEN it commits the chunk in hand, exits 143 with an interrupted
    summary, and the retry finishes with output and cache equal to the uninterrupted run's.
    The signal provably arrives mid-run: the job is held at its pause point until sent."""
    rng = random.Random(seed)
    args = job_args(artifact, crash_input, tmp_path)
    chunk = rng.randint(1, 5)
    job = JobProcess(args, pause_at=f"after_chunk:{chunk}", fifo_dir=tmp_path)
    assert job.wait_for(PAUSED_EVENT)
    job.signal(TERM)
    job.release()
    assert job.finish() == 143
    (interrupted,) = job.named("interrupted")
    assert interrupted["records"] < RECORDS
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

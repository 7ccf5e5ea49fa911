"""Fixtures of the batch tests (helpers live in tests/batch/job_io.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def artifact(sample_artifact: Path) -> Path:
    return sample_artifact


CRASH_RECORDS = 300


@pytest.fixture(scope="session")
def crash_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 real-text records with a few bad lines: the crash and integrity tests' input."""
    from tests.batch.job_io import input_with_rejects

    path, _, _ = input_with_rejects(tmp_path_factory.mktemp("crash") / "in.jsonl", CRASH_RECORDS)
    return path


@pytest.fixture(scope="session")
def baseline(artifact: Path, crash_input: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """What an uninterrupted run of the crash job leaves: every interrupted run must end
    with exactly these rows and cache entries."""
    from tests.batch.job_io import crash_job_args, outcome, run_to_end

    where = tmp_path_factory.mktemp("baseline")
    job = run_to_end(crash_job_args(artifact, crash_input, where))
    assert len(job.named("checkpoint")) >= 7
    result = outcome(where)
    assert len(result.rows) == CRASH_RECORDS and len(result.cache) == CRASH_RECORDS
    return result

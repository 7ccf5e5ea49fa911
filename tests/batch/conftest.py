"""Fixtures of the batch tests (helpers live in tests/batch/job_io.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def artifact(sample_artifact: Path) -> Path:
    return sample_artifact

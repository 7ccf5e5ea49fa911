"""The batch job's EMF metrics: one blob per attempt, the names the CDK dashboard reads."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from batch import exit_codes
from batch.job import run_job
from batch.settings import JobSettings
from cdk.batch_precompute import METRICS_NAMESPACE, batch_service_name
from tests.batch.job_io import short_texts, write_jsonl


def _run(artifact: Path, source: Path, output: Path, **kwargs: Any) -> tuple[int, list[Any]]:
    log = io.StringIO()
    settings = JobSettings(artifact=str(artifact), input=str(source), output=str(output), **kwargs)
    code = run_job(settings, log_stream=log, out=io.StringIO())
    return code, [json.loads(line) for line in log.getvalue().splitlines()]


def _metrics(events: list[dict[str, Any]]) -> dict[str, Any]:
    (blob,) = [e for e in events if e["event"] == "metrics"]
    return blob


def test_each_attempt_emits_emf_under_the_dashboards_names(
    artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN the job environment the CDK job definition sets, 12 good records and 2 bad
    ones, and an error budget of 0 WHEN the job runs (fails the budget) and is retried with
    a larger budget THEN each attempt logs one EMF blob in namespace precast with dimension
    service=precast-<model>-batch; the first counts 14 read, 12 items, 2 rejected; the
    retry, which redoes nothing, counts 0 of each, so sums over attempts stay exact."""
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", METRICS_NAMESPACE)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", batch_service_name("minilm"))
    rows: list[Any] = [{"id": i, "text": t} for i, t in enumerate(short_texts(12, offset=40))]
    source = write_jsonl(tmp_path / "in.jsonl", [*rows, "{oops", {"id": "b", "text": " "}])
    cache = f"sqlite:{tmp_path / 'cache.sqlite'}"

    code, events = _run(artifact, source, tmp_path / "out", error_budget=0.0, cache_url=cache)
    assert code == exit_codes.ERROR_BUDGET
    first = _metrics(events)
    (directive,) = first["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "precast"
    assert directive["Dimensions"] == [["service"]]
    assert first["service"] == "precast-minilm-batch"
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert units["Items"] == "Count"  # what cdk/monitoring.py graphs as "batch items written"
    assert set(units) == {
        "Items",
        "RecordsRead",
        "SkippedCached",
        "Predicted",
        "Rejected",
        "CacheWritten",
        "Attempts",
        "TextsPerSecond",
        "DurationSeconds",
    }
    assert (first["Items"], first["RecordsRead"], first["Rejected"]) == ([12.0], [14.0], [2.0])
    assert (first["Predicted"], first["CacheWritten"], first["Attempts"]) == ([12.0], [12.0], [1.0])
    assert first["status"] == "failed"

    code, events = _run(artifact, source, tmp_path / "out", error_budget=0.5, cache_url=cache)
    assert code == exit_codes.OK
    retry = _metrics(events)
    assert (retry["Items"], retry["RecordsRead"], retry["Predicted"]) == ([0.0], [0.0], [0.0])
    assert retry["Attempts"] == [1.0] and retry["status"] == "complete"


def test_defaults_without_the_job_environment(
    artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN no POWERTOOLS_* variables (a local run) WHEN the job runs THEN the blob still
    has namespace precast and service precast-batch."""
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE", raising=False)
    monkeypatch.delenv("POWERTOOLS_SERVICE_NAME", raising=False)
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": 1, "text": "one short text"}])
    code, events = _run(artifact, source, tmp_path / "out")
    assert code == exit_codes.OK
    blob = _metrics(events)
    assert blob["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "precast"
    assert blob["service"] == "precast-batch" and blob["Items"] == [1.0]

"""The job's metrics: one CloudWatch EMF blob per attempt, logged with its summary.

Namespace and ``service`` dimension come from ``POWERTOOLS_METRICS_NAMESPACE`` and
``POWERTOOLS_SERVICE_NAME`` (the CDK job definition sets ``precast`` and
``precast-<model>-batch``, the names the dashboard reads). Counts are this attempt's own
(the checkpoint's totals minus what earlier attempts had done), so summing a metric over
retries counts each record once:

``Items`` (output rows written: cached + predicted + recovered; the dashboard's "batch items
written"), ``RecordsRead``, ``SkippedCached``, ``Predicted``, ``Rejected``, ``CacheWritten``,
``Attempts`` (1 per attempt), ``TextsPerSecond`` (the summary's, over all attempts) and
``DurationSeconds`` (this attempt). Run id, shard, status and model version ride along as
metadata. The blob is a JSON line on the job's log stream (the ``metrics`` event), which
CloudWatch Logs turns into metrics.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from batch.checkpoint import Counts

ENV_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
ENV_SERVICE = "POWERTOOLS_SERVICE_NAME"
DEFAULT_NAMESPACE = "precast"
DEFAULT_SERVICE = "precast-batch"


def attempt_counts(before: Counts, after: Counts) -> Counts:
    """What this attempt did: ``after`` (checkpoint totals now) minus ``before`` (at start)."""
    delta = Counts()
    for name in vars(delta):
        setattr(delta, name, getattr(after, name) - getattr(before, name))
    return delta


def batch_emf(
    summary: Mapping[str, Any], done: Counts, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The EMF blob for one attempt: ``done`` from :func:`attempt_counts`."""
    from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

    env = os.environ if environ is None else environ
    metrics = EphemeralMetrics(
        namespace=env.get(ENV_NAMESPACE) or DEFAULT_NAMESPACE,
        service=env.get(ENV_SERVICE) or DEFAULT_SERVICE,
    )
    count = MetricUnit.Count
    values: list[tuple[str, MetricUnit, float]] = [
        ("Items", count, done.cached + done.predicted + done.recovered),
        ("RecordsRead", count, done.read),
        ("SkippedCached", count, done.cached),
        ("Predicted", count, done.predicted),
        ("Rejected", count, done.rejected),
        ("CacheWritten", count, done.written),
        ("Attempts", count, 1),
        ("TextsPerSecond", MetricUnit.CountPerSecond, float(summary.get("texts_per_s", 0.0))),
        ("DurationSeconds", MetricUnit.Seconds, float(summary.get("attempt_duration_s", 0.0))),
    ]
    for name, unit, value in values:
        metrics.add_metric(name=name, unit=unit, value=value)
    for key in ("run_id", "shard", "status", "model_version"):
        metrics.add_metadata(key=key, value=str(summary.get(key)))
    return dict(metrics.serialize_metric_set())

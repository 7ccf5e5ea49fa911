"""Every metric the function hosts emit, named once for CloudWatch EMF and for Prometheus.

Lambda emits EMF (``functions.lambda_host``); the local and Modal hosts serve the same
numbers on ``GET /metrics`` in the Prometheus text format (``functions.prometheus``). The
Prometheus name is the EMF name in snake_case under the ``precast_`` prefix, with the unit
appended where it has one (Prometheus' convention; the client adds ``_total`` to counters):
``CacheHits`` -> ``precast_cache_hits_total``, ``Latency`` -> ``precast_latency_milliseconds``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    emf: str  # CloudWatch EMF metric name (namespace precast, dimension service)
    unit: str  # EMF unit (powertools MetricUnit value)
    help: str

    @property
    def prometheus(self) -> str:
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", self.emf).lower()
        suffix = "" if self.unit in ("Count", "None") else f"_{self.unit.lower()}"
        return f"precast_{snake}{suffix}"


LATENCY = Metric("Latency", "Milliseconds", "Time to answer a request, in milliseconds")
ITEMS = Metric("Items", "Count", "Texts received by predict requests")
CACHE_HITS = Metric("CacheHits", "Count", "Texts answered from the prediction cache")
CACHE_MISSES = Metric("CacheMisses", "Count", "Texts computed live (not in the cache)")
CACHE_UNAVAILABLE = Metric(
    "CacheUnavailable", "Count", "Predict requests served live because the cache failed"
)
# Also on Lambda's side as the AWS/Lambda Invocations metric; here with route and status.
REQUESTS = Metric("Requests", "Count", "Requests answered, by method, route and status")
BATCH_SIZE = Metric("BatchSize", "Count", "Texts per inference call (after micro-batching)")
QUEUE_DEPTH = Metric(
    "QueueDepth", "Count", "Requests waiting for an inference worker or a micro-batch"
)
OVERLOADED = Metric("Overloaded", "Count", "Requests refused with 503 (inference queue full)")
MODEL_INFO = Metric("ModelInfo", "None", "The served model version (value 1)")

# The EMF metrics the Lambda host emits per predict request (plus Latency per invocation).
PREDICT_EMF = (ITEMS, CACHE_HITS, CACHE_MISSES, CACHE_UNAVAILABLE)

"""schemathesis against the app's own ``GET /openapi.json``: no generated request is a 5xx.

The app is the one every host serves (with ``/metrics``, as the local and Modal hosts
build it) on the sample model and a SQLite cache, driven in-process over ASGI. Examples
are bounded and derandomized (seeded from each test's name), so the run is repeatable and
its cost fixed; both schema-valid and schema-violating requests are generated.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from edge.cache import SQLiteCache
from functions.app import create_app
from functions.registry import ModelRegistry
from functions.settings import Settings

MAX_EXAMPLES = 100  # per operation and mode: 1,700 requests (schemathesis skips the schema path)


@pytest.fixture(scope="module")
def fuzzed_app(sample_model: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    cache = SQLiteCache(Path(tmp_path_factory.mktemp("fuzz")) / "cache.sqlite")
    registry = ModelRegistry({sample_model.name: sample_model}, cache)
    settings_ = Settings(artifact_dirs=(sample_model.directory,), max_body_bytes=256 * 1024)
    yield create_app(registry, settings=settings_, prometheus=True)
    registry.close()


@pytest.fixture(scope="module")
def api_schema(fuzzed_app: Any) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app)


OPERATIONS = [
    "GET /healthz",
    "GET /metrics",
    "GET /v1/models",
    "GET /v1/models/{model}",
    "POST /v1/models/minilm/predict",
    "POST /v1/embeddings",
    "POST /embed",
    "POST /predict",
    "POST /rerank",
    "GET /info",
]
POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
# Schema-violating requests exist only for operations that take input (a path or a body).
CASES = [(label, POSITIVE) for label in OPERATIONS] + [
    ("GET /v1/models/{model}", NEGATIVE),
    ("POST /v1/models/minilm/predict", NEGATIVE),
    ("POST /v1/embeddings", NEGATIVE),
    ("POST /embed", NEGATIVE),
    ("POST /predict", NEGATIVE),
    ("POST /rerank", NEGATIVE),
    ("GET /info", NEGATIVE),
]


def test_the_fuzzed_operations_are_every_operation_of_the_schema(api_schema: Any) -> None:
    """GIVEN the served schema WHEN its operations are listed THEN they are the ones fuzzed
    below (a new route cannot escape the fuzzer)."""
    labels = {result.ok().label for result in api_schema.get_all_operations()}
    assert labels == set(OPERATIONS)


@pytest.mark.parametrize(("label", "mode"), CASES, ids=[f"{c[0]} {c[1].value}" for c in CASES])
def test_no_generated_request_is_a_server_error(
    api_schema: Any, label: str, mode: schemathesis.GenerationMode
) -> None:
    """GIVEN requests generated from the served schema for one operation (valid ones, and
    ones that violate it) WHEN sent THEN none is answered 5xx, every status is one the
    schema documents, and every body matches the documented response schema."""
    operation = api_schema.find_operation_by_label(label)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(
            checks=[
                schemathesis.checks.not_a_server_error,
                schemathesis.checks.status_code_conformance,
                schemathesis.checks.response_schema_conformance,
            ],
        )

    run()

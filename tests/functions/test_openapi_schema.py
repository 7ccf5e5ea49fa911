"""GET /openapi.json: a valid OpenAPI 3.1 document whose limits are the ones enforced."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
from function_events import load_event, response_json, with_body
from openapi_spec_validator import validate

from optimize import corpus

Invoke = Callable[[dict[str, Any]], dict[str, Any]]


@pytest.fixture
def schema(invoke: Invoke) -> dict[str, Any]:
    event = load_event("function_url_healthz.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/openapi.json"
    response = invoke(event)
    assert response["statusCode"] == 200
    body: dict[str, Any] = response_json(response)
    return body


def test_schema_is_valid_openapi_3_1(schema: dict[str, Any]) -> None:
    """GIVEN the served schema WHEN validated THEN it is OpenAPI 3.1 and names every route."""
    validate(schema)
    assert schema["openapi"] == "3.1.0"
    assert set(schema["paths"]) == {
        "/healthz",
        "/openapi.json",
        "/v1/models",
        "/v1/models/{model}",
        "/v1/models/minilm/predict",
        "/v1/embeddings",
        "/embed",
        "/predict",
        "/rerank",
        "/info",
    }


def test_schema_states_the_enforced_limits(
    schema: dict[str, Any], sample_model: Any, lambda_module: Any
) -> None:
    """GIVEN the predict request schema WHEN read THEN maxItems, maxLength and the body cap
    equal the model's limits and the server's max_body_bytes."""
    body = schema["components"]["requestBodies"]["PredictRequest.minilm"]
    many, one = body["content"]["application/json"]["schema"]["oneOf"]
    assert many["properties"]["inputs"]["maxItems"] == sample_model.limits.max_batch
    assert many["properties"]["inputs"]["items"]["maxLength"] == sample_model.limits.max_chars
    assert one["properties"]["input"]["maxLength"] == sample_model.limits.max_chars
    assert body["x-max-body-bytes"] == lambda_module.settings.max_body_bytes
    assert str(lambda_module.settings.max_body_bytes) in body["description"]


def test_what_the_schema_accepts_the_server_accepts(
    schema: dict[str, Any], invoke: Invoke, sample_model: Any
) -> None:
    """GIVEN bodies at and just past each limit WHEN checked by the schema and sent to the
    server THEN both agree: valid -> 200, invalid -> 422."""
    request = schema["components"]["requestBodies"]["PredictRequest.minilm"]
    request_schema = request["content"]["application/json"]["schema"]
    n = sample_model.limits.max_batch
    long = (" ".join(corpus.sample(100)))[: sample_model.limits.max_chars]
    cases = [
        ({"inputs": corpus.sample(2, offset=500)}, True),
        ({"input": long}, True),
        ({"input": long + "x"}, False),
        ({"inputs": corpus.sample(n + 1)}, False),
        ({"inputs": []}, False),
        ({"inputs": ["fine", "  \n "]}, False),
        ({"inputs": ["ok"], "extra": 1}, False),
        ({"inputs": ["ok", 7]}, False),
    ]
    for body, valid in cases:
        schema_ok = jsonschema.Draft202012Validator(request_schema).is_valid(body)
        status = invoke(with_body(load_event("function_url_predict.json"), json.dumps(body)))[
            "statusCode"
        ]
        assert schema_ok is valid, body
        assert status == (200 if valid else 422), body

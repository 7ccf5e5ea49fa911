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


ROUTE_TYPES = {
    "/v1/embeddings": "OPENAI_EMBEDDINGS",
    "/embed": "TEI_EMBED",
    "/predict": "TEI_PREDICT",
    "/rerank": "TEI_RERANK",
}


def _body_schema(schema: dict[str, Any], path: str) -> dict[str, Any]:
    body = schema["paths"][path]["post"]["requestBody"]
    if "$ref" in body:
        body = schema["components"]["requestBodies"][body["$ref"].rsplit("/", 1)[1]]
    found: dict[str, Any] = body["content"]["application/json"]["schema"]
    return found


def test_request_schemas_are_the_parsers_request_types(
    schema: dict[str, Any], sample_model: Any
) -> None:
    """GIVEN the served schema WHEN each inference route's request body is read THEN it is
    the one its parser reads by (functions.request_types), and the own route's body lists
    exactly the fields its parser knows."""
    from functions import request_types as types

    for path, name in ROUTE_TYPES.items():
        expected = getattr(types, name).schema(sample_model, ["minilm"])
        assert _body_schema(schema, path) == expected, path
    own = _body_schema(schema, "/v1/models/minilm/predict")["oneOf"]
    assert own == [types.PREDICT_MANY.schema(sample_model), types.PREDICT_ONE.schema(sample_model)]
    assert set(types.PREDICT_KEYS) == set(types.PREDICT_MANY.names) | set(types.PREDICT_ONE.names)


def test_every_encoding_format_the_schema_offers_is_served(
    schema: dict[str, Any], invoke: Invoke
) -> None:
    """GIVEN the /v1/embeddings schema's encoding_format enum WHEN each choice is sent THEN
    the parser takes it (200), and a value outside it is a 422 naming the choices."""
    offered = _body_schema(schema, "/v1/embeddings")["properties"]["encoding_format"]["enum"]
    assert offered == ["float", "base64"]
    for fmt in [*offered, "int8"]:
        body = {"model": "minilm", "input": "a text", "encoding_format": fmt}
        event = with_body(load_event("function_url_predict.json"), json.dumps(body))
        event["rawPath"] = event["requestContext"]["http"]["path"] = "/v1/embeddings"
        response = invoke(event)
        assert response["statusCode"] == (422 if fmt == "int8" else 200), fmt
        if fmt == "int8":
            assert "|".join(offered) in response_json(response)["error"]["message"]

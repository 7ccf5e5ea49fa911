"""The Lambda host driven with recorded Function URL events (payload 2.0), end to end.

Each test hands a complete event to ``functions.lambda_handler.handler`` exactly as Lambda
would and checks the Function URL response: status, JSON body, cache flags, and the EMF
metrics and logs powertools prints.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from function_events import emf_blobs, load_event, response_json, with_body

from optimize import corpus

Invoke = Callable[[dict[str, Any]], dict[str, Any]]
PREDICT = "function_url_predict.json"


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_healthz_event_reports_the_served_version(invoke: Invoke, sample_model: Any) -> None:
    """GIVEN the recorded GET /healthz event WHEN handled THEN 200 names model and version,
    this host's kind, and that the model is certified for it (no warnings)."""
    from edge.host import host_kind

    response = invoke(load_event("function_url_healthz.json"))
    assert response["statusCode"] == 200
    assert response["headers"]["content-type"] == "application/json"
    assert response_json(response) == {
        "status": "ok",
        "models": {sample_model.name: sample_model.version},
        "cache": True,
        "host": host_kind(),
        "certified": {sample_model.name: True},
        "warnings": [],
    }


def test_list_models_event_returns_manifest_summaries(invoke: Invoke, sample_model: Any) -> None:
    """GIVEN GET /v1/models WHEN handled THEN each summary states version, dim and limits."""
    body = response_json(invoke(load_event("function_url_list_models.json")))
    (summary,) = body["models"]
    assert summary == json.loads(json.dumps(sample_model.manifest.summary()))
    assert summary["limits"]["max_batch"] == sample_model.limits.max_batch


def test_model_info_event_returns_one_summary(invoke: Invoke, sample_model: Any) -> None:
    """GIVEN GET /v1/models/minilm WHEN handled THEN the body is that model's summary."""
    response = invoke(load_event("function_url_model_info.json"))
    assert response["statusCode"] == 200
    assert response_json(response)["version"] == sample_model.version


def test_predict_event_returns_the_models_vectors(invoke: Invoke, sample_model: Any) -> None:
    """GIVEN the recorded predict event WHEN handled THEN one vector per input, as edge gives."""
    event = load_event(PREDICT)
    texts = json.loads(event["body"])["inputs"]
    response = invoke(event)
    assert response["statusCode"] == 200
    body = response_json(response)
    assert body["model"] == "minilm"
    assert body["model_version"] == sample_model.version
    vectors = np.asarray(body["predictions"], dtype=np.float32)
    assert vectors.shape == (len(texts), sample_model.manifest.dim)
    assert _cosines(vectors, sample_model.predict(texts)).min() > 0.999
    assert len(body["cached"]) == len(texts)
    assert body["cache"]["hits"] + body["cache"]["misses"] == len(texts)
    assert body["cache"]["error"] is None


def test_second_identical_request_is_served_from_the_cache(invoke: Invoke) -> None:
    """GIVEN texts never sent before WHEN sent twice THEN all miss, then all hit, same vectors."""
    texts = corpus.sample(3, offset=1000)
    event = with_body(load_event(PREDICT), json.dumps({"inputs": texts}))
    first = response_json(invoke(event))
    second = response_json(invoke(event))
    assert first["cached"] == [False, False, False]
    assert first["cache"] == {"hits": 0, "misses": 3, "error": None}
    assert second["cached"] == [True, True, True]
    assert second["cache"] == {"hits": 3, "misses": 0, "error": None}
    np.testing.assert_array_equal(
        np.asarray(first["predictions"], np.float32), np.asarray(second["predictions"], np.float32)
    )


def test_cache_flags_are_per_input_position(invoke: Invoke) -> None:
    """GIVEN one cached text WHEN sent between two new ones THEN only its flag is true."""
    old, new_a, new_b = corpus.sample(3, offset=1010)
    invoke(with_body(load_event(PREDICT), json.dumps({"input": old})))
    body = response_json(
        invoke(with_body(load_event(PREDICT), json.dumps({"inputs": [new_a, old, new_b]})))
    )
    assert body["cached"] == [False, True, False]


def test_base64_body_is_decoded(invoke: Invoke, sample_model: Any) -> None:
    """GIVEN the recorded event with isBase64Encoded WHEN handled THEN the text is embedded."""
    event = load_event("function_url_predict_base64.json")
    assert event["isBase64Encoded"] is True
    text = json.loads(__import__("base64").b64decode(event["body"]))["input"]
    body = response_json(invoke(event))
    vector = np.asarray(body["predictions"], dtype=np.float32)
    assert vector.shape == (1, sample_model.manifest.dim)
    assert _cosines(vector, sample_model.predict([text]))[0] > 0.999


def _error(response: dict[str, Any], status: int, error_type: str) -> dict[str, Any]:
    assert response["statusCode"] == status, response["body"]
    assert response["headers"]["content-type"] == "application/json"
    error: dict[str, Any] = response_json(response)["error"]
    assert error["type"] == error_type
    assert set(error) == {"type", "message", "limit", "allowed", "actual", "index"}
    return error


def test_bad_json_event_is_400_with_the_position(invoke: Invoke) -> None:
    """GIVEN the recorded event with broken JSON WHEN handled THEN 400 says where it broke."""
    error = _error(invoke(load_event("function_url_predict_bad_json.json")), 400, "invalid_json")
    assert "line 1 column" in error["message"]


def test_wrong_types_event_is_422_naming_the_item(invoke: Invoke) -> None:
    """GIVEN inputs with a number in it WHEN handled THEN 422 names index, type and limit."""
    error = _error(invoke(load_event("function_url_predict_wrong_types.json")), 422, "input_limit")
    assert (error["limit"], error["index"], error["actual"]) == ("type", 1, "int")


def test_unknown_model_event_is_404_listing_the_choices(invoke: Invoke) -> None:
    """GIVEN a predict event for a model not served WHEN handled THEN 404 lists what is."""
    event = load_event("function_url_predict_unknown_model.json")
    error = _error(invoke(event), 404, "model_not_found")
    assert error["allowed"] == ["minilm"]
    assert error["actual"] == "gpt-17"


def test_too_many_items_is_422_with_the_limit(invoke: Invoke, sample_model: Any) -> None:
    """GIVEN max_batch + 1 texts WHEN handled THEN 422 states allowed and actual counts."""
    n = sample_model.limits.max_batch + 1
    event = with_body(load_event(PREDICT), json.dumps({"inputs": corpus.sample(n)}))
    error = _error(invoke(event), 422, "input_limit")
    assert (error["limit"], error["allowed"], error["actual"]) == (
        "max_batch",
        sample_model.limits.max_batch,
        n,
    )


def test_too_long_text_is_422_naming_the_item(invoke: Invoke, sample_model: Any) -> None:
    """GIVEN one text over max_chars WHEN handled THEN 422 names its index and length."""
    long = " ".join(corpus.sample(200))[: sample_model.limits.max_chars + 1]
    event = with_body(load_event(PREDICT), json.dumps({"inputs": ["fine", long]}))
    error = _error(invoke(event), 422, "input_limit")
    assert (error["limit"], error["index"], error["actual"]) == ("max_chars", 1, len(long))


def test_oversized_body_is_413_before_parsing(invoke: Invoke, lambda_module: ModuleType) -> None:
    """GIVEN a body one byte over the cap (and not even JSON) WHEN handled THEN 413, not 400."""
    cap = lambda_module.settings.max_body_bytes
    event = with_body(load_event(PREDICT), "x" * (cap + 1))
    error = _error(invoke(event), 413, "body_too_large")
    assert (error["limit"], error["allowed"], error["actual"]) == (
        "max_body_bytes",
        cap,
        cap + 1,
    )


def test_oversized_body_without_content_length_is_413(
    invoke: Invoke, lambda_module: ModuleType
) -> None:
    """GIVEN a too-big body and no Content-Length WHEN handled THEN the read cap answers 413."""
    cap = lambda_module.settings.max_body_bytes
    event = with_body(load_event(PREDICT), json.dumps({"inputs": ["y" * cap]}))
    del event["headers"]["content-length"]
    _error(invoke(event), 413, "body_too_large")


def test_wrong_method_is_405_with_allow(invoke: Invoke) -> None:
    """GIVEN GET on the predict path WHEN handled THEN 405 JSON and an Allow header."""
    event = load_event(PREDICT)
    event["requestContext"]["http"]["method"] = "GET"
    response = invoke(event)
    _error(response, 405, "method_not_allowed")
    assert response["headers"]["allow"] == "POST"


def test_unknown_route_is_404_json(invoke: Invoke) -> None:
    """GIVEN a path the API does not have WHEN handled THEN 404 in the JSON error shape."""
    event = load_event("function_url_healthz.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/v2/anything"
    _error(invoke(event), 404, "not_found")


def test_non_json_content_type_is_415(invoke: Invoke) -> None:
    """GIVEN a form-encoded body WHEN handled THEN 415 says to send application/json."""
    event = load_event(PREDICT)
    event["headers"]["content-type"] = "application/x-www-form-urlencoded"
    error = _error(invoke(event), 415, "unsupported_media_type")
    assert error["actual"] == "application/x-www-form-urlencoded"


MALFORMED = [
    ("[]", 422),
    ('"just a string"', 422),
    ("null", 422),
    ("12", 422),
    ('{"inputs": "not a list"}', 422),
    ('{"inputs": []}', 422),
    ('{"inputs": [null]}', 422),
    ('{"inputs": ["   "]}', 422),
    ('{"inputs": [["nested"]]}', 422),
    ('{"inputs": [1e999]}', 400),  # no finite double: refused by the parser
    ('{"inputs": [NaN]}', 400),
    ('{"inputs": ["a"], "extra": 1}', 422),
    ('{"input": 3}', 422),
    ('{"input": "a", "inputs": ["b"]}', 422),
    ('{"text": "a"}', 422),
    ("", 400),
    ("{", 400),
    ("[" * 100_000, 400),
    ('{"inputs": ["ok", "\\ud800"]}', 422),
]


@pytest.mark.parametrize(("body", "status"), MALFORMED, ids=[m[0][:24] for m in MALFORMED])
def test_client_mistakes_are_never_500(invoke: Invoke, body: str, status: int) -> None:
    """GIVEN a malformed or odd body WHEN handled THEN a precise 4xx with a message, not 500."""
    response = invoke(with_body(load_event(PREDICT), body))
    assert response["statusCode"] == status, response["body"]
    assert response_json(response)["error"]["message"]


def test_invalid_utf8_body_is_400(invoke: Invoke) -> None:
    """GIVEN a base64 body that is not UTF-8 WHEN handled THEN 400 invalid_json names the byte."""
    event = with_body(load_event(PREDICT), b'{"inputs": ["\xff\xfe"]}', b64=True)
    error = _error(invoke(event), 400, "invalid_json")
    assert "UTF-8" in error["message"]


def test_emf_metrics_are_flushed_per_invocation(
    invoke: Invoke, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN a predict of new texts WHEN handled THEN one EMF blob in namespace precast has
    Latency (ms), Items, CacheHits, CacheMisses and CacheUnavailable with the right values."""
    texts = corpus.sample(4, offset=1020)
    capsys.readouterr()
    invoke(with_body(load_event(PREDICT), json.dumps({"inputs": texts})))
    blobs = [b for b in emf_blobs(capsys.readouterr().out) if "Items" in b]
    assert len(blobs) == 1
    blob = blobs[0]
    (directive,) = blob["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "precast"
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert units == {
        "Latency": "Milliseconds",
        "Items": "Count",
        "CacheHits": "Count",
        "CacheMisses": "Count",
        "CacheUnavailable": "Count",
    }
    assert blob["Items"] == [4.0] and blob["CacheMisses"] == [4.0] and blob["CacheHits"] == [0.0]
    assert blob["CacheUnavailable"] == [0.0]
    assert blob["Latency"][0] > 0
    assert blob["model"] == "minilm"


def test_cold_start_metric_is_emitted_at_most_once(
    invoke: Invoke, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN two invocations WHEN handled THEN the second one is never a cold start."""
    invoke(load_event("function_url_healthz.json"))
    capsys.readouterr()
    invoke(load_event("function_url_healthz.json"))
    blobs = emf_blobs(capsys.readouterr().out)
    assert blobs and all("ColdStart" not in b for b in blobs)
    assert any("Latency" in b for b in blobs)


def test_logs_carry_the_request_id_as_correlation_id(
    invoke: Invoke, lambda_module: ModuleType
) -> None:
    """GIVEN an event with requestContext.requestId WHEN handled THEN the log line carries it."""
    handler = lambda_module.logger.registered_handler
    stream = io.StringIO()
    previous, handler.stream = handler.stream, stream
    try:
        event = load_event("function_url_model_info.json")
        invoke(event)
    finally:
        handler.stream = previous
    records = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    request_logs = [r for r in records if r.get("message") == "request"]
    assert request_logs, records
    record = request_logs[-1]
    assert record["correlation_id"] == event["requestContext"]["requestId"]
    assert (record["method"], record["path"], record["status"]) == ("GET", "/v1/models/minilm", 200)

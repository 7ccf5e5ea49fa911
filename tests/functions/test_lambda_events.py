"""The Lambda handler answers every event: malformed Function URL events, foreign event
sources, and whatever hypothesis generates. Each answer is logged and metered.

The cases named first are the ones a fault run made the handler raise on (invalid base64,
``headers: null``, a non-string header, no ``requestContext.http``, no method, SQS,
EventBridge, ``{}``, a list, a string, ``None``), plus API Gateway REST and ALB events,
which the docs say are not served.
"""

from __future__ import annotations

import base64
import copy
import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import pytest
from function_events import emf_blobs, load_event, response_json, with_body
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

Invoke = Callable[[Any], dict[str, Any]]
PREDICT = "function_url_predict.json"


@contextmanager
def request_logs(lambda_module: ModuleType) -> Iterator[list[dict[str, Any]]]:
    """The JSON log records the handler writes while the block runs."""
    handler = lambda_module.logger.registered_handler
    stream = io.StringIO()
    records: list[dict[str, Any]] = []
    previous, handler.stream = handler.stream, stream
    try:
        yield records
    finally:
        handler.stream = previous
        records.extend(json.loads(line) for line in stream.getvalue().splitlines() if line.strip())


def _predict_event() -> dict[str, Any]:
    return load_event(PREDICT)


def _bad_base64() -> dict[str, Any]:
    event = _predict_event()
    event["isBase64Encoded"] = True
    event["body"] = "not base64 at all!"
    return event


def _set(path: tuple[str, ...], value: Any) -> Callable[[], dict[str, Any]]:
    def make() -> dict[str, Any]:
        event = _predict_event()
        node = event
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        return event

    return make


def _drop(path: tuple[str, ...]) -> Callable[[], dict[str, Any]]:
    def make() -> dict[str, Any]:
        event = _predict_event()
        node = event
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
        return event

    return make


MALFORMED_FUNCTION_URL = {
    "invalid base64 body": (_bad_base64, "body"),
    "non-string header": (_set(("headers", "content-length"), 163), "headers['content-length']"),
    "headers not an object": (_set(("headers",), ["content-type"]), "headers"),
    "no requestContext.http": (_drop(("requestContext", "http")), "requestContext.http"),
    "no method": (_drop(("requestContext", "http", "method")), "requestContext.http.method"),
    "method not a string": (
        _set(("requestContext", "http", "method"), 7),
        "requestContext.http.method",
    ),
    "path without slash": (_set(("requestContext", "http", "path"), "v1/models"), None),
    "body not a string": (_set(("body",), {"inputs": ["x"]}), "body"),
    "isBase64Encoded not a boolean": (_set(("isBase64Encoded",), "yes"), "isBase64Encoded"),
    "cookies not strings": (_set(("cookies",), [1, 2]), "cookies"),
}


@pytest.mark.parametrize("case", list(MALFORMED_FUNCTION_URL), ids=list(MALFORMED_FUNCTION_URL))
def test_malformed_function_url_event_is_400_invalid_event(
    invoke: Invoke, lambda_module: ModuleType, case: str
) -> None:
    """GIVEN a payload-2.0 event with one field malformed WHEN handled THEN a 400 Function URL
    response of type invalid_event names the field, and the invocation is logged."""
    make, field = MALFORMED_FUNCTION_URL[case]
    with request_logs(lambda_module) as records:
        response = invoke(make())
    assert response["statusCode"] == 400, response
    error = response_json(response)["error"]
    assert error["type"] == "invalid_event"
    if field is not None:
        assert error["limit"] == field
        assert field in error["message"]
    (logged,) = [r for r in records if r.get("message") == "request"]
    assert logged["status"] == 400


def test_null_headers_are_read_as_no_headers(invoke: Invoke) -> None:
    """GIVEN the predict event with ``headers: null`` WHEN handled THEN it is served (no
    Content-Type is accepted, as with curl --data-raw)."""
    event = _predict_event()
    event["headers"] = None
    assert invoke(event)["statusCode"] == 200


FOREIGN = {
    "SQS": (lambda: load_event("sqs_message.json"), "aws:sqs"),
    "EventBridge": (lambda: load_event("eventbridge_scheduled.json"), "EventBridge"),
    "API Gateway REST": (lambda: load_event("api_gateway_rest.json"), "API Gateway REST"),
    "ALB": (lambda: load_event("alb_request.json"), "Application Load Balancer"),
    "payload 1.0": (_set(("version",), "1.0"), "payload version '1.0'"),
    "empty object": (lambda: {}, "empty event"),
    "list": (lambda: [1, 2], "array"),
    "string": (lambda: "GET /healthz", "string"),
    "None": (lambda: None, "null"),
    "number": (lambda: 3, "number"),
}


@pytest.mark.parametrize("case", list(FOREIGN), ids=list(FOREIGN))
def test_foreign_event_is_a_logged_refusal(
    invoke: Invoke, lambda_module: ModuleType, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN an event from a source the handler does not serve WHEN handled THEN a 400
    unsupported_event names the source, a WARNING says it was refused, and the invocation
    still has its request log line and its Latency metric."""
    make, named = FOREIGN[case]
    capsys.readouterr()
    with request_logs(lambda_module) as records:
        response = invoke(make())
    assert response["statusCode"] == 400
    error = response_json(response)["error"]
    assert error["type"] == "unsupported_event"
    assert named in error["message"]
    assert "Function URL events (payload format 2.0)" in error["message"]
    refused = [r for r in records if r.get("message") == "refused event"]
    assert refused and refused[0]["level"] == "WARNING"
    assert [r["status"] for r in records if r.get("message") == "request"] == [400]
    assert any("Latency" in blob for blob in emf_blobs(capsys.readouterr().out))


def test_valid_base64_event_is_still_served(invoke: Invoke) -> None:
    """GIVEN a predict event whose body is valid base64 WHEN handled THEN 200 (the check that
    refuses bad base64 decodes good base64 for Mangum)."""
    body = json.dumps({"input": "base64 still works"})
    assert invoke(with_body(_predict_event(), body, b64=True))["statusCode"] == 200


def test_adapter_fault_is_a_logged_500_not_a_raise(
    lambda_module: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN an ASGI adapter that raises WHEN the wrapper handles an event THEN it answers a
    500 Function URL response, logs the traceback and the request line, and meters it."""
    from functions.lambda_host import build_handler
    from functions.local_host import LocalLambdaContext

    def broken(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise RuntimeError("adapter bug")

    handler = build_handler(broken, logger=lambda_module.logger, metrics=lambda_module.metrics)
    capsys.readouterr()
    with request_logs(lambda_module) as records:
        response = handler(_predict_event(), LocalLambdaContext())
    assert response["statusCode"] == 500
    assert response_json(response)["error"]["type"] == "internal_error"
    assert any(
        r.get("message") == "the ASGI adapter failed" and "adapter bug" in r.get("exception", "")
        for r in records
    )
    assert [r["status"] for r in records if r.get("message") == "request"] == [500]


# --- property: whatever the event, a dict with a statusCode, logged --------------------

JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
JSON = st.recursive(
    JSON_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
RECORDED = [
    PREDICT,
    "function_url_healthz.json",
    "function_url_predict_base64.json",
    "sqs_message.json",
    "api_gateway_rest.json",
]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.extend(_paths(value, (*prefix, i)))
    return out


@st.composite
def mutated_events(draw: st.DrawFn) -> Any:
    """A recorded event with 1-3 of its fields replaced by arbitrary JSON, or deleted."""
    event = copy.deepcopy(load_event(draw(st.sampled_from(RECORDED))))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(event)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = event
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSON | st.just(base64.b64encode(b"\xff\xfe{").decode()))
    return event


EVENTS = mutated_events() | JSON


@given(event=EVENTS)
@settings(
    max_examples=200,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_any_event_gets_a_logged_status_code(
    invoke: Invoke, lambda_module: ModuleType, event: Any
) -> None:
    """GIVEN any JSON value as the event (arbitrary, or a recorded event with fields replaced
    or deleted) WHEN handled THEN the handler returns a dict with an HTTP statusCode that is
    not a server error, and logs exactly one request line with that status."""
    with request_logs(lambda_module) as records:
        response = invoke(copy.deepcopy(event))
    assert isinstance(response, dict)
    status = response["statusCode"]
    assert isinstance(status, int) and 200 <= status < 500, response
    assert [r["status"] for r in records if r.get("message") == "request"] == [status]


def test_cache_failure_is_a_warning_in_the_lambda_logs(
    lambda_module: ModuleType, sample_model: Any, tmp_path: Any
) -> None:
    """GIVEN the Lambda wrapper around an app whose SQLite cache lost its table WHEN a predict
    event is handled THEN it is served live (200, cache.error set) and the powertools log
    has a WARNING naming the cache failure."""
    import sqlite3

    from mangum import Mangum

    from edge.cache import SQLiteCache
    from functions.app import create_app
    from functions.lambda_host import build_handler
    from functions.local_host import LocalLambdaContext
    from functions.registry import ModelRegistry

    path = tmp_path / "broken.sqlite"
    cache = SQLiteCache(path)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE predictions")
    registry = ModelRegistry({sample_model.name: sample_model}, cache)
    app = create_app(registry, settings=lambda_module.settings)
    handler = build_handler(
        Mangum(app, lifespan="off"), logger=lambda_module.logger, metrics=lambda_module.metrics
    )
    with request_logs(lambda_module) as records:
        response = handler(_predict_event(), LocalLambdaContext())
    registry.close()
    assert response["statusCode"] == 200
    assert response_json(response)["cache"]["error"]
    warnings = [r for r in records if "prediction cache failed" in r.get("message", "")]
    assert warnings and warnings[0]["level"] == "WARNING"

"""Issue 24 row 7: NaN, ±Infinity and numbers past a double (``1e999``) anywhere in a body
are a 400 naming the field, on every route and dialect, locally and through the Lambda
handler; the error body is strict JSON (no non-finite number) and never echoes a long value.

Before: ``json.loads`` read them as floats, the route echoed the value in its 422, and
Starlette's encoder refused it: a 500 ``internal_error``.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from function_events import LiveServer, load_event

from functions.exceptions import ECHO_MAX_CHARS
from functions.local_host import create_local_app
from functions.registry import ModelRegistry
from functions.settings import Settings

pytestmark = pytest.mark.integration

NON_FINITE = ("NaN", "Infinity", "-Infinity", "1e999")
# (route, body with X where the number goes, the field the error must name)
CASES = [
    ("/v1/models/minilm/predict", '{"inputs": ["a"], "top_k": X}', "top_k"),
    ("/v1/embeddings", '{"model": "minilm", "input": "a", "dimensions": X}', "dimensions"),
    ("/embed", '{"inputs": "a", "normalize": X}', "normalize"),
    ("/embed", '{"inputs": "a", "truncate": X}', "truncate"),
    ("/predict", '{"inputs": "a", "raw_scores": X}', "raw_scores"),
    ("/rerank", '{"query": "q", "texts": ["a"], "truncate": X}', "truncate"),
    ("/v1/models/minilm/predict", '{"inputs": ["a"], "x": [1, {"y": X}]}', "x[1].y"),
]
PARAMS = [
    pytest.param(route, body.replace("X", number), field, number, id=f"{route}-{field}-{number}")
    for route, body, field in CASES
    for number in NON_FINITE
]


@pytest.fixture(scope="module")
def server(sample_model: Any) -> Iterator[LiveServer]:
    registry = ModelRegistry({sample_model.name: sample_model}, None)
    app = create_local_app(registry, Settings(artifact_dirs=(sample_model.directory,)))
    with LiveServer(app) as live:
        yield live
    app.state.replay.close()


def _strict_json(raw: bytes) -> Any:
    def refuse(literal: str) -> None:
        raise AssertionError(f"the error body holds {literal}")

    return json.loads(raw, parse_constant=refuse)


def _check(status: int, raw: bytes, field: str, number: str) -> None:
    assert status == 400, raw[:500]
    error = _strict_json(raw)["error"]
    assert error.get("precast_type", error["type"]) == "invalid_json"
    assert error["limit"] == "finite_number"
    assert error["actual"] == number
    assert f"'{field}'" in error["message"], error["message"]


@pytest.mark.parametrize(("route", "body", "field", "number"), PARAMS)
def test_local_server_refuses_non_finite_numbers(
    server: LiveServer, route: str, body: str, field: str, number: str
) -> None:
    r = httpx.post(
        f"{server.url}{route}", content=body, headers={"content-type": "application/json"}
    )
    _check(r.status_code, r.content, field, number)


@pytest.mark.parametrize(("route", "body", "field", "number"), PARAMS)
def test_lambda_handler_refuses_non_finite_numbers(
    invoke: Any, route: str, body: str, field: str, number: str
) -> None:
    event = copy.deepcopy(load_event("function_url_predict.json"))
    event["rawPath"] = event["requestContext"]["http"]["path"] = route
    event["body"] = base64.b64encode(body.encode()).decode()
    event["isBase64Encoded"] = True
    event["headers"]["content-length"] = str(len(body))
    out = invoke(event)
    raw = base64.b64decode(out["body"]) if out.get("isBase64Encoded") else out["body"].encode()
    _check(out["statusCode"], raw, field, number)


def test_an_overflowing_literal_is_echoed_bounded(server: LiveServer) -> None:
    """A 5000-digit number past a double's range is refused without echoing its digits."""
    literal = "9" * 5000 + ".0"
    r = httpx.post(f"{server.url}/v1/embeddings", content=f'{{"dimensions": {literal}}}')
    assert r.status_code == 400
    assert len(r.content) < 1000
    assert len(r.json()["error"]["actual"]) <= ECHO_MAX_CHARS


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/v1/embeddings", {"model": "minilm", "input": "a", "dimensions": "7" * 100_000}),
        ("/embed", {"inputs": "a", "normalize": ["x" * 100_000]}),
        ("/v1/embeddings", {"model": "m" * 100_000, "input": "a"}),
        ("/v1/embeddings", {"model": "minilm", "input": "a", "encoding_format": "f" * 100_000}),
        ("/v1/models/minilm/predict", {"inputs": ["a"], "top_k": "k" * 100_000}),
    ],
    ids=["dimensions", "normalize", "model", "encoding_format", "top_k"],
)
def test_error_bodies_never_echo_long_values(
    server: LiveServer, route: str, body: dict[str, Any]
) -> None:
    """A 100 kB value in a refused field comes back as at most ECHO_MAX_CHARS characters."""
    r = httpx.post(f"{server.url}{route}", json=body)
    assert 400 <= r.status_code < 500
    assert len(r.content) < 2000, r.content[:300]

"""One definition of blank text, shared by the OpenAPI schema and ``check_texts``.

A fault run found them disagreeing: ``"\\u001e\\u001e\\u001e"`` passed the schema's ``\\S``
pattern and was refused by ``str.strip()``; ``"\\ufeff"`` the other way round. Now the
schema's pattern is built from ``edge.limits.BLANK_CHARACTERS``; these tests compare the
two on generated strings rich in every kind of blank.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
from function_events import load_event, response_json, with_body
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.exceptions import InputLimitError
from edge.limits import BLANK_CHARACTERS, InputLimits, check_texts, is_blank

Invoke = Callable[[dict[str, Any]], dict[str, Any]]
# ECMA-262 \s (what JSON Schema patterns use): WhiteSpace (TAB, VT, FF, ZWNBSP, any Zs) and
# LineTerminator (LF, CR, LS, PS).
ECMA_WHITESPACE = {"\t", "\x0b", "\x0c", "\ufeff", "\n", "\r", "\u2028", "\u2029"} | {
    chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Zs"
}
PYTHON_WHITESPACE = {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}
NEAR_MISSES = "a\u200b\u200d\u2060\x00\x7f\x1b\u00ad\u180e"  # not blank: zero-width, controls


@pytest.fixture(scope="module")
def text_schema(lambda_module: Any) -> dict[str, Any]:
    from functions.openapi import build_openapi

    schema = build_openapi(lambda_module.registry, lambda_module.settings)
    body = schema["components"]["requestBodies"]["PredictRequest.minilm"]
    one = body["content"]["application/json"]["schema"]["oneOf"][1]
    text: dict[str, Any] = one["properties"]["input"]
    return text


def test_blank_is_python_whitespace_and_ecma_whitespace() -> None:
    """GIVEN the shared set WHEN compared with both definitions THEN it is their union."""
    assert set(BLANK_CHARACTERS) == PYTHON_WHITESPACE | ECMA_WHITESPACE
    assert len(BLANK_CHARACTERS) == len(set(BLANK_CHARACTERS))


@pytest.mark.parametrize("text", ["\u001e\u001e\u001e", "\ufeff", " \u3000\u2028", "\x1c"])
def test_the_fault_runs_strings_are_blank_for_both(
    text: str, text_schema: dict[str, Any], invoke: Invoke
) -> None:
    """GIVEN strings the schema and the server used to disagree on WHEN checked THEN the schema
    refuses them and the server answers 422 limit=empty."""
    assert not jsonschema.Draft202012Validator(text_schema).is_valid(text)
    event = with_body(load_event("function_url_predict.json"), json.dumps({"input": text}))
    response = invoke(event)
    assert response["statusCode"] == 422
    assert response_json(response)["error"]["limit"] == "empty"


TEXTS = st.text(alphabet=st.sampled_from(BLANK_CHARACTERS + NEAR_MISSES), min_size=1, max_size=12)


@given(text=TEXTS | st.text(min_size=1, max_size=8))
@settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_schema_and_check_texts_agree_on_generated_strings(
    text: str, text_schema: dict[str, Any]
) -> None:
    """GIVEN a generated string (mostly blanks and near-misses) WHEN judged by the served
    schema's text rule and by check_texts THEN both accept it or both refuse it."""
    schema_ok = jsonschema.Draft202012Validator(text_schema).is_valid(text)
    try:
        check_texts([text], InputLimits())
        server_ok = True
    except InputLimitError as exc:
        assert exc.limit == "empty"
        server_ok = False
    assert schema_ok == server_ok == (not is_blank(text)), repr(text)

"""The one body parser: every decode failure is a 4xx on every host; bodies are UTF-8 only.

Regression cases from a fault run: a 5,000-digit integer anywhere in the body was a 500
(Python's int-string conversion limit); UTF-16 and BOM-prefixed bodies were accepted
although the docs say only UTF-8 is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from function_events import load_event, response_json, with_body

from functions.body import parse_json
from functions.exceptions import InvalidJSONError

Invoke = Callable[[dict[str, Any]], dict[str, Any]]
PREDICT = "function_url_predict.json"
HUGE = "9" * 5000

REFUSED = {
    "5000-digit integer in an unknown field": f'{{"inputs": ["a"], "n": {HUGE}}}'.encode(),
    "5000-digit integer as an input": f'{{"inputs": [{HUGE}]}}'.encode(),
    "5000-digit integer at the top": HUGE.encode(),
    "UTF-16 LE with BOM": '{"inputs": ["a"]}'.encode("utf-16"),
    "UTF-16 BE without BOM": '{"inputs": ["a"]}'.encode("utf-16-be"),
    "UTF-32": '{"inputs": ["a"]}'.encode("utf-32"),
    "UTF-8 BOM": b'\xef\xbb\xbf{"inputs": ["a"]}',
    "invalid UTF-8": b'{"inputs": ["\xc3\x28"]}',
    "lone surrogate bytes": b'{"inputs": ["\xed\xa0\x80"]}',
    "only whitespace": b" \n\t ",
}


@pytest.mark.parametrize("body", list(REFUSED.values()), ids=list(REFUSED))
def test_parser_maps_every_decode_failure_to_invalid_json(body: bytes) -> None:
    """GIVEN a body that is not UTF-8 JSON Python can read WHEN parsed THEN InvalidJSONError
    (400) with a message, never another exception."""
    with pytest.raises(InvalidJSONError) as info:
        parse_json(body)
    assert info.value.status == 400
    assert str(info.value)


def test_huge_integer_message_names_the_problem() -> None:
    """GIVEN a 5,000-digit integer WHEN parsed THEN the message says it is a number."""
    with pytest.raises(InvalidJSONError, match="number"):
        parse_json(f'{{"inputs": ["a"], "n": {HUGE}}}'.encode())


def test_bom_message_names_the_bom() -> None:
    """GIVEN a UTF-8 body with a byte-order mark WHEN parsed THEN the message says so."""
    with pytest.raises(InvalidJSONError, match="byte-order mark"):
        parse_json(b'\xef\xbb\xbf{"inputs": ["a"]}')


def test_utf8_json_with_non_ascii_text_parses() -> None:
    """GIVEN UTF-8 JSON holding non-ASCII text and a big-but-legal integer WHEN parsed THEN
    the values come back as sent."""
    assert parse_json('{"inputs": ["grüße", "東京"], "n": 12345}'.encode()) == {
        "inputs": ["grüße", "東京"],
        "n": 12345,
    }


@pytest.mark.parametrize("body", list(REFUSED.values()), ids=list(REFUSED))
def test_lambda_host_answers_400_for_each(invoke: Invoke, body: bytes) -> None:
    """GIVEN each refused body as a base64 Function URL event WHEN handled THEN 400
    invalid_json, not 500."""
    response = invoke(with_body(load_event(PREDICT), body, b64=True))
    assert response["statusCode"] == 400, response["body"]
    assert response_json(response)["error"]["type"] == "invalid_json"


def test_huge_integer_in_a_plain_body_is_400(invoke: Invoke) -> None:
    """GIVEN the 5,000-digit integer in a plain-text event body WHEN handled THEN 400."""
    body = json.dumps({"inputs": ["a"]})[:-1] + f', "n": {HUGE}}}'
    response = invoke(with_body(load_event(PREDICT), body))
    assert response["statusCode"] == 400

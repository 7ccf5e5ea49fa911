"""Input limits: one place that checks what a caller may send, with precise messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edge.exceptions import InputLimitError

# What "blank" means, once, for check_texts and for the OpenAPI schema's pattern: Python's
# whitespace (str.isspace: includes the separators U+001C-U+001F) plus every character
# JSON Schema's ECMA-262 ``\s`` matches (which adds U+FEFF, the BOM). A text made only of
# these gives the tokenizer nothing to embed. tests/functions checks the set against both.
BLANK_CHARACTERS = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x20\x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
# The same rule as a JSON Schema (ECMA-262) pattern: "at least one non-blank character".
NON_BLANK_PATTERN = "[^" + "".join(f"\\u{ord(c):04x}" for c in BLANK_CHARACTERS) + "]"


def is_blank(text: str) -> bool:
    """True when ``text`` has no character outside :data:`BLANK_CHARACTERS`."""
    return not text.strip(BLANK_CHARACTERS)


@dataclass(frozen=True)
class InputLimits:
    """Limits from the manifest. ``truncate=False`` rejects texts longer than ``max_tokens``."""

    max_batch: int = 64
    max_chars: int = 8192
    max_tokens: int = 256
    truncate: bool = True


def check_texts(texts: object, limits: InputLimits) -> list[str]:
    """Return ``texts`` as a list of str, or raise :class:`InputLimitError` saying why not."""
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise InputLimitError(
            f"inputs must be a list of strings, got {type(texts).__name__}",
            limit="type",
            allowed="list[str]",
            actual=type(texts).__name__,
        )
    if len(texts) == 0:
        raise InputLimitError(
            "inputs is empty; send at least one text", limit="empty", allowed=">= 1", actual=0
        )
    if len(texts) > limits.max_batch:
        raise InputLimitError(
            f"{len(texts)} texts in one call; the limit is max_batch={limits.max_batch}. "
            "Split the request.",
            limit="max_batch",
            allowed=limits.max_batch,
            actual=len(texts),
        )
    out: list[str] = []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputLimitError(
                f"inputs[{i}] must be a string, got {type(text).__name__}",
                limit="type",
                allowed="str",
                actual=type(text).__name__,
                index=i,
            )
        if len(text) > limits.max_chars:
            raise InputLimitError(
                f"inputs[{i}] has {len(text)} characters; the limit is "
                f"max_chars={limits.max_chars}",
                limit="max_chars",
                allowed=limits.max_chars,
                actual=len(text),
                index=i,
            )
        if is_blank(text):
            raise InputLimitError(
                f"inputs[{i}] is empty or only whitespace",
                limit="empty",
                allowed="non-blank text",
                actual=repr(text[:20]),
                index=i,
            )
        out.append(text)
    return out

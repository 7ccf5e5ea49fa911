"""Input limits at the device API: EdgeModel.predict on a model opened from a bundle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import edge
from edge.exceptions import InputLimitError

from .conftest import KeyPair


@pytest.fixture(scope="module")
def bundled_model(
    good_bundle: Path, keypair: KeyPair, tmp_path_factory: pytest.TempPathFactory
) -> edge.EdgeModel:
    return edge.load(
        good_bundle, public_key=keypair.public, extract_to=tmp_path_factory.mktemp("x") / "m"
    )


@pytest.mark.parametrize(
    ("texts", "limit", "needle"),
    [
        ([], "empty", "at least one text"),
        (["fine", "   "], "empty", "inputs[1]"),
        ("a bare string", "type", "list of strings"),
    ],
)
def test_empty_or_mistyped_input_is_refused(
    bundled_model: edge.EdgeModel, texts: object, limit: str, needle: str
) -> None:
    """GIVEN a model loaded from a signed bundle
    WHEN predict gets no texts, a blank text, or a bare string
    THEN InputLimitError names the limit and the offending input."""
    with pytest.raises(InputLimitError, match=needle.replace("[", r"\[")) as info:
        bundled_model.predict(texts)  # type: ignore[arg-type]
    assert info.value.limit == limit


def test_oversized_input_is_refused_with_limit_and_value(bundled_model: edge.EdgeModel) -> None:
    """GIVEN the manifest's per-request limits (max_chars, max_batch) and enforce_limits=True
    (what a server applies) WHEN a text is one character too long, or the batch one text
    too large THEN InputLimitError carries limit, allowed and actual, and the message states
    both numbers; the library default accepts both (any number of texts, cut by tokens)."""
    limits = bundled_model.limits
    too_long = ["x" * (limits.max_chars + 1)]
    with pytest.raises(InputLimitError) as info:
        bundled_model.predict(too_long, enforce_limits=True)
    err = info.value
    assert (err.limit, err.allowed, err.actual, err.index) == (
        "max_chars",
        limits.max_chars,
        limits.max_chars + 1,
        0,
    )
    assert str(limits.max_chars) in str(err) and str(limits.max_chars + 1) in str(err)
    smoke = list(bundled_model.manifest.smoke.texts or ())  # real docstrings, short
    batch = [smoke[i % len(smoke)] for i in range(limits.max_batch + 1)]
    with pytest.raises(InputLimitError, match=f"max_batch={limits.max_batch}") as info:
        bundled_model.predict(batch, enforce_limits=True)
    assert (info.value.allowed, info.value.actual) == (limits.max_batch, limits.max_batch + 1)
    out = bundled_model.predict(batch)
    assert out.shape == (len(batch), bundled_model.manifest.dim)
    (long_one,) = bundled_model.predict(too_long)
    np.testing.assert_allclose(np.linalg.norm(long_one), 1.0, atol=1e-3)


def test_text_longer_than_max_tokens_is_truncated_not_refused(
    bundled_model: edge.EdgeModel,
) -> None:
    """GIVEN truncate = true in the manifest and a text far past max_tokens
    WHEN it is predicted
    THEN it is cut to exactly max_tokens and a unit vector comes back."""
    assert bundled_model.limits.truncate
    smoke = list(bundled_model.manifest.smoke.texts or ())
    long_text = " ".join(smoke * 200)[: bundled_model.limits.max_chars]
    assert (
        len(bundled_model.tokenizer.encode([long_text])[0].ids) == bundled_model.limits.max_tokens
    )
    vector = bundled_model.predict([long_text])
    assert vector.shape == (1, bundled_model.manifest.dim)
    assert np.isclose(np.linalg.norm(vector), 1.0, atol=1e-3)

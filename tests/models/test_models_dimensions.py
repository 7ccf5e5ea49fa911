"""OpenAI ``dimensions``: truncate + renormalize, only for a model whose precast.toml allows
it (``truncate_dims``, recorded in the manifest only when set); any other size is the
OpenAI-shaped 422 precast gives every invalid parameter (the SDK's
``UnprocessableEntityError``, with ``param``)."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pytest
from conftest import TRUNCATE_DIMS

from optimize import corpus

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions"))
from function_events import LiveServer  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def client(tiny_registry: Any, tiny_artifacts: dict[str, Path]) -> Iterator[openai.OpenAI]:
    from functions.local_host import create_local_app
    from functions.settings import Settings

    app = create_local_app(tiny_registry, Settings(artifact_dirs=tuple(tiny_artifacts.values())))
    with LiveServer(app) as live:
        yield openai.OpenAI(base_url=f"{live.url}/v1", api_key="unused", max_retries=0)
    app.state.replay.close()


def test_dimensions_truncates_and_renormalizes_when_the_config_allows_it(
    client: openai.OpenAI, tiny_registry: Any
) -> None:
    """GIVEN the tiny BERT with truncate_dims = [16, 8] WHEN the openai SDK asks for
    dimensions=16 (float) and 8 (base64, little-endian float32) THEN each vector is edge's
    first d values renormalized to unit length; dimensions=32 (its own size) is edge's."""
    texts = corpus.sample(3, offset=6100)
    full = np.vstack([tiny_registry.get("bert").predict([t]) for t in texts])
    for dims, fmt in ((16, "float"), (8, "base64")):
        got = client.embeddings.create(
            model="bert", input=texts, dimensions=dims, encoding_format=fmt
        )
        rows = [
            np.frombuffer(base64.b64decode(d.embedding), dtype="<f4")
            if isinstance(d.embedding, str)
            else d.embedding
            for d in got.data
        ]
        vectors = np.asarray(rows, dtype=np.float32)
        assert vectors.shape == (3, dims)
        expected = full[:, :dims] / np.linalg.norm(full[:, :dims], axis=1, keepdims=True)
        np.testing.assert_allclose(vectors, expected, rtol=0, atol=1e-6)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    same = client.embeddings.create(model="bert", input=texts, dimensions=32)
    np.testing.assert_array_equal(np.asarray([d.embedding for d in same.data]), full)


def test_other_dimensions_are_refused_in_openais_shape(client: openai.OpenAI) -> None:
    """GIVEN the allowed sizes 32|16|8 for BERT and none for RoBERTa WHEN the SDK asks for
    12, or RoBERTa for 16 THEN UnprocessableEntityError (422, param 'dimensions') says what
    is allowed."""
    with pytest.raises(openai.UnprocessableEntityError) as listed:
        client.embeddings.create(model="bert", input=["a text"], dimensions=12)
    assert listed.value.status_code == 422
    assert "32|16|8" in listed.value.message and listed.value.param == "dimensions"
    with pytest.raises(openai.UnprocessableEntityError) as refused:
        client.embeddings.create(model="roberta", input=["a text"], dimensions=16)
    assert "not trained to be truncated" in refused.value.message


def test_truncate_dims_is_in_the_manifest_only_when_set(tiny_artifacts: dict[str, Path]) -> None:
    """GIVEN artifacts built with and without truncate_dims WHEN their manifests are read
    THEN BERT's lists the sizes (largest first) and RoBERTa's has no such key, so its
    document and version are what they were before the key existed."""
    from edge.manifest_model import Manifest, manifest_version

    bert = json.loads((tiny_artifacts["bert"] / "manifest.json").read_text())
    assert bert["truncate_dims"] == sorted(TRUNCATE_DIMS["bert"], reverse=True)
    roberta = json.loads((tiny_artifacts["roberta"] / "manifest.json").read_text())
    assert "truncate_dims" not in roberta
    parsed = Manifest.from_json(roberta)
    assert parsed.truncate_dims == () and parsed.to_json() == roberta
    assert manifest_version(roberta) == roberta["version"]


def test_truncate_dims_is_checked_against_the_task_and_the_model(
    tiny_sources: dict[str, Path], tmp_path: Path
) -> None:
    """GIVEN truncate_dims on a classifier, or a size >= the model's dim WHEN the config
    loads / the manifest is planned THEN ConfigError names truncate_dims and the reason."""
    from optimize.source import inspect_source
    from optimize.steps import base_manifest
    from precast.project.config import load_config
    from precast.project.exceptions import ConfigError

    toml = tmp_path / "precast.toml"
    toml.write_text(
        f'[models.c]\nsource = "{tiny_sources["bert-sentiment"]}"\n'
        'task = "text-classification"\ntruncate_dims = [2]\n'
    )
    with pytest.raises(ConfigError, match="truncate_dims.*feature-extraction"):
        load_config(toml)
    toml.write_text(f'[models.e]\nsource = "{tiny_sources["bert"]}"\ntruncate_dims = [32]\n')
    model = load_config(toml).model("e")
    with pytest.raises(ConfigError, match=r"truncate_dims \[32\].*smaller than .* 32-d"):
        base_manifest(model, 32, ["input_ids"], inspect_source(tiny_sources["bert"]))

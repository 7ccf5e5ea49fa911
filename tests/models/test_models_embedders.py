"""Bring your own embedding model: BERT, DistilBERT, RoBERTa (byte-level BPE), XLM-R
(Unigram) and MPNet, each a tiny random model built here, through optimize -> edge, at
parity with sentence-transformers fp32, keeping each model's own special tokens."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tiny_models

import edge
from edge.exceptions import InputLimitError
from edge.manifest import read_manifest
from optimize import corpus
from optimize.evaluate import cosine_rows

pytestmark = pytest.mark.slow
EMBEDDERS = [s.name for s in tiny_models.EMBEDDERS]


def long_text() -> str:
    return " ".join(corpus.sample(40, offset=4000))[:4000]  # far past 128 tokens


def st_model(path: Path) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device="cpu")


@pytest.mark.parametrize("name", EMBEDDERS)
def test_each_architecture_matches_sentence_transformers_fp32(
    name: str, tiny_sources: dict[str, Path], tiny_artifacts: dict[str, Path]
) -> None:
    """GIVEN a tiny model of each architecture, optimized with the fp32 recipe
    WHEN edge embeds short texts and a text far past max_tokens
    THEN every vector has cosine >= 0.9999 with sentence-transformers' (same truncation)."""
    model = edge.load(tiny_artifacts[name])
    st = st_model(tiny_sources[name])
    texts = [*corpus.sample(6, offset=4100), long_text()]
    ours = model.predict(texts)
    theirs = st.encode(texts, convert_to_numpy=True).astype(np.float32)
    assert ours.shape == theirs.shape == (len(texts), tiny_models.HIDDEN)
    assert cosine_rows(ours, theirs).min() >= 0.9999
    if not model.manifest.normalize:  # DistilBERT's ST dir has no Normalize module
        assert not np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-3)
        np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("name", EMBEDDERS)
def test_truncation_keeps_each_models_end_token_and_pads_with_its_pad(
    name: str, tiny_sources: dict[str, Path], tiny_artifacts: dict[str, Path]
) -> None:
    """GIVEN each model's own tokenizer (transformers, from the source directory)
    WHEN edge tokenizes a text longer than max_tokens
    THEN the ids equal the source tokenizer's truncated ids, end with its end token
    ([SEP] or </s>), and the pad id is the model's (0 for BERT, 1 for the RoBERTa family)."""
    from transformers import AutoTokenizer

    model = edge.load(tiny_artifacts[name])
    hf = AutoTokenizer.from_pretrained(str(tiny_sources[name]))
    text = long_text()
    (enc,) = model.tokenizer.encode([text])
    expected = hf(text, truncation=True, max_length=model.manifest.max_tokens)["input_ids"]
    assert enc.truncated and len(enc.ids) == model.manifest.max_tokens
    assert enc.ids.tolist() == expected
    assert enc.ids[-1] == hf.sep_token_id and enc.ids[0] == hf.cls_token_id
    assert (
        model.tokenizer.pad_id
        == hf.pad_token_id
        == tiny_models.describe(tiny_sources[name])["pad_token_id"]
    )


@pytest.mark.parametrize("name", EMBEDDERS)
def test_max_tokens_is_capped_by_the_models_positions(
    name: str, tiny_artifacts: dict[str, Path]
) -> None:
    """GIVEN max_tokens = 256 (the default) and models with 128 usable positions
    (RoBERTa-family configs say 130: the pad id + 1 offset) THEN the manifest says 128."""
    assert read_manifest(tiny_artifacts[name]).max_tokens == tiny_models.POSITIONS


def test_distilbert_graph_takes_no_token_type_ids(tiny_artifacts: dict[str, Path]) -> None:
    """GIVEN DistilBERT (no segment embeddings) THEN the artifact's inputs, and the feeds
    edge sends, are input_ids + attention_mask only; BERT's include token_type_ids."""
    distil = edge.load(tiny_artifacts["distilbert"])
    assert distil.manifest.input_names == ("input_ids", "attention_mask")
    assert {i.name for i in distil.session.get_inputs()} == {"input_ids", "attention_mask"}
    assert "token_type_ids" in read_manifest(tiny_artifacts["bert"]).input_names


def test_padded_batches_equal_texts_alone(tiny_artifacts: dict[str, Path]) -> None:
    """GIVEN RoBERTa (pad id 1, position ids derived from it) WHEN texts of different
    lengths run as one padded batch THEN each row equals the text run alone: the batch is
    padded with the model's pad token and masked."""
    model = edge.load(tiny_artifacts["roberta"])
    texts = ["short", *corpus.sample(3, offset=4200)]
    encoded = model.tokenizer.encode(texts)
    batched = model._run(encoded)
    alone = np.vstack([model._run([e]) for e in encoded])
    np.testing.assert_allclose(batched, alone, atol=1e-5)


@pytest.mark.parametrize(
    ("name", "pooling", "normalize"),
    [(s.name, s.pooling, s.normalize) for s in tiny_models.EMBEDDERS],
)
def test_pooling_and_normalize_come_from_the_sentence_transformers_files(
    name: str, pooling: str, normalize: bool, tiny_artifacts: dict[str, Path]
) -> None:
    """GIVEN precast.toml entries that set neither pooling nor normalize
    THEN the manifest carries the model directory's 1_Pooling mode and Normalize module."""
    manifest = read_manifest(tiny_artifacts[name])
    assert (manifest.pooling, manifest.normalize) == (pooling, normalize)


def test_the_config_overrides_the_model_files(
    tiny_sources: dict[str, Path], tmp_path: Path
) -> None:
    """GIVEN pooling = "cls" and normalize = false in precast.toml for a mean-pooled,
    normalized directory THEN the artifact uses the config's choice."""
    from optimize.pipeline import run_optimize
    from precast.project.config import load_config

    (tmp_path / "precast.toml").write_text(
        f'[models.b]\nsource = "{tiny_sources["bert"].resolve()}"\npooling = "cls"\n'
        "normalize = false\n" + tiny_models.tiny_gate("b")
    )
    config = load_config(tmp_path / "precast.toml")
    built = run_optimize(config.model("b"), config.artifacts_dir, progress=lambda _m: None)
    manifest = read_manifest(built.directory)
    assert (manifest.pooling, manifest.normalize) == ("cls", False)


def test_named_prompts_are_recorded_and_selectable(
    tiny_sources: dict[str, Path], tiny_artifacts: dict[str, Path]
) -> None:
    """GIVEN XLM-R's config_sentence_transformers.json with query: / passage: prompts
    THEN the manifest records them, predict(prompt_name=...) equals sentence-transformers'
    encode(prompt_name=...), differs from no prompt, and an unknown name is refused."""
    model = edge.load(tiny_artifacts["xlm-roberta"])
    assert model.manifest.prompts == {"query": "query: ", "passage": "passage: "}
    st = st_model(tiny_sources["xlm-roberta"])
    texts = corpus.sample(3, offset=4300)
    for prompt in ("query", "passage"):
        ours = model.predict(texts, prompt_name=prompt)
        theirs = st.encode(texts, prompt_name=prompt, convert_to_numpy=True)
        assert cosine_rows(ours, theirs.astype(np.float32)).min() >= 0.9999
    assert (
        cosine_rows(model.predict(texts, prompt_name="query"), model.predict(texts)).max() < 0.9999
    )
    with pytest.raises(InputLimitError, match=re.escape("Choices are: passage|query")) as info:
        model.predict(texts, prompt_name="document")
    assert info.value.limit == "prompt_name"

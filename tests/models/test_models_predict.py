"""The library ``predict``: an optional progress bar (tqdm, imported only when asked for)
and a model directory's ``default_prompt_name`` applied by default, as
sentence-transformers' ``encode`` does."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edge
from edge.model import NO_PROMPT
from optimize import corpus

pytestmark = pytest.mark.slow


def test_progress_bar_counts_every_text_and_changes_no_row(
    tiny_artifacts: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN 70 texts (more than one internal chunk of 64) WHEN predict(progress=True)
    THEN a tqdm bar on stderr reaches 70/70 and the rows equal predict() without it;
    without progress nothing is printed."""
    model = edge.load(tiny_artifacts["bert"])
    texts = corpus.sample(70, offset=6600)
    plain = model.predict(texts)
    assert capsys.readouterr().err == ""
    shown = model.predict(texts, progress=True)
    err = capsys.readouterr().err
    assert "predict bert" in err and "70/70" in err
    np.testing.assert_array_equal(shown, plain)


def test_predict_without_progress_never_imports_tqdm(tiny_artifacts: dict[str, Path]) -> None:
    """GIVEN a fresh interpreter WHEN edge loads a model and predicts (progress off, the
    default) THEN tqdm was never imported: it stays an optional dependency of edge."""
    code = (
        "import sys, edge; m = edge.load(sys.argv[1]); m.predict(['a text'] * 3); "
        "print('tqdm' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tiny_artifacts["bert"])],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False"


def test_a_default_prompt_name_applies_by_default(
    tiny_sources: dict[str, Path], tmp_path: Path
) -> None:
    """GIVEN the tiny XLM-R saved with default_prompt_name = "query" WHEN optimized and
    loaded THEN predict(texts) is predict(texts, prompt_name="query") and matches
    sentence-transformers' encode (which applies it too), and NO_PROMPT turns it off."""
    from sentence_transformers import SentenceTransformer

    from optimize.pipeline import run_optimize
    from precast.project.config import load_config

    source = tmp_path / "xlmr-default-query"
    shutil.copytree(tiny_sources["xlm-roberta"], source)
    st_config = source / "config_sentence_transformers.json"
    st_doc = json.loads(st_config.read_text())
    st_doc["default_prompt_name"] = "query"
    st_config.write_text(json.dumps(st_doc))
    (tmp_path / "precast.toml").write_text(
        f'[models.xq]\nsource = "{source}"\n'
        '[models.xq.optimize]\nrecipes = ["fp32-optimized"]\ncalibration_texts = 8\n'
        "eval_texts = 16\n"
    )
    config = load_config(tmp_path / "precast.toml")
    built = run_optimize(config.model("xq"), config.artifacts_dir, progress=lambda _m: None)
    model = edge.load(built.directory)
    assert model.manifest.default_prompt_name == "query"
    texts = corpus.sample(3, offset=6700)
    default = model.predict(texts)
    np.testing.assert_array_equal(default, model.predict(texts, prompt_name="query"))
    assert not np.allclose(default, model.predict(texts, prompt_name=NO_PROMPT), atol=1e-4)
    st = SentenceTransformer(str(source), device="cpu")
    assert st.default_prompt_name == "query"
    expected = np.asarray(st.encode(texts), dtype=np.float32)
    cosines = (default * expected).sum(axis=1) / (
        np.linalg.norm(default, axis=1) * np.linalg.norm(expected, axis=1)
    )
    assert cosines.min() >= 0.9999

"""Detection that follows sentence-transformers, and size budgets that fit the model.

A sentence-transformers save is read by its modules whatever head ``config.json`` names; a
plain ``…ForMaskedLM`` / ``…ForPreTraining`` checkpoint embeds with its base model; a
checkpoint whose tensors would load as random weights is refused; stray files change
nothing; ``precast optimize`` drops recipes over ``max_size_mb`` before scoring them and
fails fast, naming the closest, when none fits. Tiny random models, built locally."""

from __future__ import annotations

import json
import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from optimize.exceptions import AccuracyBudgetError
from precast.cli import main
from precast.project.config import load_config

pytestmark = pytest.mark.slow


def add(config: Path, *args: str) -> int:
    return main(["--config", str(config), "models", "add", *args])


def copy_with(source: Path, tmp_path: Path, **config: object) -> Path:
    """A copy of ``source`` whose config.json has ``config`` merged in (None: key removed)."""
    copy = tmp_path / "model"
    shutil.copytree(source, copy)
    doc = json.loads((copy / "config.json").read_text())
    doc = {k: v for k, v in (doc | config).items() if v is not None}
    (copy / "config.json").write_text(json.dumps(doc))
    return copy


@pytest.mark.parametrize(
    ("name", "architectures"),
    [
        ("mpnet", ["MPNetForMaskedLM"]),
        ("bert", ["BertForPreTraining"]),
        ("bert", None),
    ],
)
def test_a_sentence_transformers_save_embeds_whatever_head_config_names(
    tiny_sources: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    architectures: list[str] | None,
) -> None:
    """GIVEN a sentence-transformers save whose config.json names a pre-training head (or
    none), as popular saves do WHEN added THEN it is a feature-extraction model, decided by
    its modules, with the pooling of 1_Pooling."""
    source = copy_with(tiny_sources[name], tmp_path, architectures=architectures)
    config = tmp_path / "precast.toml"
    assert add(config, "m", "--source", str(source)) == 0
    out = capsys.readouterr().out
    assert "task: feature-extraction (sentence-transformers modules)" in out
    model = load_config(config).model("m")
    assert model.task == "feature-extraction"


def _plain_head(source: Path, out: Path, head: str) -> Path:
    """A plain transformers save of ``head`` around ``source``'s base weights."""
    import transformers

    base = transformers.AutoModel.from_pretrained(str(source))
    model = getattr(transformers, head)(base.config)
    getattr(model, model.base_model_prefix).load_state_dict(base.state_dict(), strict=False)
    model.save_pretrained(out)
    transformers.AutoTokenizer.from_pretrained(str(source)).save_pretrained(out)  # type: ignore[no-untyped-call]
    return out


def test_a_plain_masked_lm_checkpoint_embeds_with_its_base_weights(
    tiny_sources: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN a plain transformers BertForMaskedLM directory (tensors under ``bert.``, an MLM
    head) WHEN added THEN feature-extraction, and the ONNX export runs the base model's own
    weights: its output equals the base model's in PyTorch."""
    import torch
    import transformers

    from optimize.export import export_onnx

    source = _plain_head(tiny_sources["bert"], tmp_path / "mlm", "BertForMaskedLM")
    assert json.loads((source / "config.json").read_text())["architectures"] == ["BertForMaskedLM"]
    config = tmp_path / "precast.toml"
    assert add(config, "m", "--source", str(source)) == 0
    assert "task: feature-extraction (config.json BertForMaskedLM: its base model)" in (
        capsys.readouterr().out
    )
    import onnxruntime as ort

    with warnings.catch_warnings():  # the tracer's warnings, as run_optimize quiets them
        warnings.simplefilter("ignore")
        onnx = export_onnx(source, tmp_path / "export", task="feature-extraction")
    tok = transformers.AutoTokenizer.from_pretrained(str(source))  # type: ignore[no-untyped-call]
    enc = tok(["a masked language model", "embeds"], padding=True, return_tensors="np")
    session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    feed = {i.name: enc[i.name].astype(np.int64) for i in session.get_inputs()}
    ours = session.run(None, feed)[0]
    base = transformers.AutoModel.from_pretrained(str(tiny_sources["bert"])).eval()
    with torch.no_grad():
        theirs = base(**{k: torch.from_numpy(v) for k, v in feed.items()}).last_hidden_state
    np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-4)


def test_a_checkpoint_that_would_load_random_weights_is_refused(
    tiny_sources: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN a save whose tensors sit under a prefix transformers does not strip
    (``model.``): AutoModel would initialise them randomly with a logged warning WHEN added
    THEN exit 1, the error says the weights would be random and how to re-save."""
    from safetensors.numpy import load_file, save_file

    source = copy_with(tiny_sources["bert"], tmp_path)
    weights = load_file(source / "model.safetensors")
    save_file({f"model.{k}": v for k, v in weights.items()}, source / "model.safetensors")
    config = tmp_path / "precast.toml"
    assert add(config, "m", "--source", str(source)) == 1
    err = capsys.readouterr().err
    assert "does not hold" in err and "BertModel" in err and "would be random" in err
    assert "'model.embeddings" in err and "save_pretrained" in err
    assert not config.exists()


def test_a_cross_encoder_save_ranks_and_a_sparse_encoder_is_refused(
    tiny_sources: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN a sentence-transformers 5 CrossEncoder save (modules.json with one Transformer,
    model_type CrossEncoder, one label) WHEN added THEN text-ranking; GIVEN the same save
    marked SparseEncoder THEN refused, naming what precast serves."""
    from sentence_transformers import CrossEncoder

    saved = tmp_path / "ce"
    CrossEncoder(str(tiny_sources["xlmr-reranker"]), device="cpu").save(str(saved))
    assert (saved / "modules.json").is_file()
    config = tmp_path / "precast.toml"
    assert add(config, "ce", "--source", str(saved)) == 0
    assert "task: text-ranking (a sentence-transformers CrossEncoder)" in capsys.readouterr().out
    st = json.loads((saved / "config_sentence_transformers.json").read_text())
    (saved / "config_sentence_transformers.json").write_text(
        json.dumps(st | {"model_type": "SparseEncoder"})
    )
    assert add(config, "sparse", "--source", str(saved)) == 1
    assert "model_type 'SparseEncoder'; precast serves" in capsys.readouterr().err


def test_max_tokens_is_the_saves_own_length_capped_by_positions(
    tiny_sources: dict[str, Path], tmp_path: Path
) -> None:
    """GIVEN a save whose sentence_bert_config.json says max_seq_length 1000, beyond the
    model's 128 positions, and one saying 100 WHEN added THEN max_tokens is 128, then 100."""
    for length, expected in ((1000, 128), (100, 100)):
        source = copy_with(tiny_sources["bert"], tmp_path / str(length))
        sbert = json.loads((source / "sentence_bert_config.json").read_text())
        (source / "sentence_bert_config.json").write_text(
            json.dumps(sbert | {"max_seq_length": length})
        )
        config = tmp_path / str(length) / "precast.toml"
        assert add(config, "m", "--source", str(source)) == 0
        text = config.read_text()
        assert f"max_tokens = {expected}  # sentence_bert_config.json max_seq_length {length}" in (
            text
        )
        assert load_config(config).model("m").max_tokens == expected


STRAYS = ("desktop.ini", "README.md", "Thumbs.db", ".DS_Store", "1_Pooling/desktop.ini")


def test_stray_files_change_neither_detection_nor_the_fingerprint(
    tiny_sources: dict[str, Path], tmp_path: Path
) -> None:
    """GIVEN a copied save with desktop.ini (root and 1_Pooling), README.md, Thumbs.db,
    .DS_Store and a .git folder WHEN inspected and fingerprinted THEN the same as without."""
    from optimize.pipeline import fingerprint
    from optimize.source import inspect_source

    source = copy_with(tiny_sources["bert"], tmp_path)
    (tmp_path / "precast.toml").write_text(f'[models.m]\nsource = "{source}"\n')
    model = load_config(tmp_path / "precast.toml").model("m")
    before = (fingerprint(model, source), inspect_source(source))
    for name in STRAYS:
        (source / name).write_text("[.ShellClassInfo]\nIconResource=C:\\icon.ico,0\n")
    (source / ".git").mkdir()
    (source / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    assert (fingerprint(model, source), inspect_source(source)) == before
    (source / "vocab.txt").write_text("changed")  # a real file still counts
    assert fingerprint(model, source) != before[0]


def _fp32_mb(source: Path) -> float:
    from safetensors.numpy import load_file

    return sum(4 * a.size for a in load_file(source / "model.safetensors").values()) / 1e6


def test_models_add_writes_the_size_budget_commented_from_the_weights(
    tiny_sources: dict[str, Path], tmp_path: Path
) -> None:
    """GIVEN a model WHEN added THEN [models.m.optimize] holds max_size_mb commented out,
    sized from its fp32 weights, and the loaded config has no size limit."""
    config = tmp_path / "precast.toml"
    assert add(config, "m", "--source", str(tiny_sources["bert"])) == 0
    fp32 = _fp32_mb(tiny_sources["bert"])
    text = config.read_text()
    optimize_table = text.split("[models.m.optimize]\n", 1)[1]
    assert "\n# max_size_mb: unset is no size limit" in "\n" + optimize_table
    assert f"# (fp32 weights {fp32:.1f} MB; its int8 recipes" in text
    assert f"\n# max_size_mb = {math.ceil(fp32 * 0.3)}\n" in text
    assert load_config(config).model("m").optimize.max_size_mb is None


def _tiny_model(tiny_sources: dict[str, Path], tmp_path: Path, max_size_mb: float):  # type: ignore[no-untyped-def]
    (tmp_path / "precast.toml").write_text(
        f'[models.b]\nsource = "{tiny_sources["bert"]}"\n[models.b.optimize]\n'
        'recipes = ["fp32-optimized", "dynamic-int8"]\ncalibration_texts = 8\n'
        f"eval_texts = 16\nmax_size_mb = {max_size_mb}\n"
        "[models.b.accuracy]\nmin_mean_cosine = 0.0\nmin_cosine = -1.0\n"
        "min_neighbour_agreement = 0.0\n"
    )
    return load_config(tmp_path / "precast.toml").model("b")


def test_size_budget_fails_fast_naming_the_closest_then_skips_what_is_over(
    tiny_sources: dict[str, Path], tmp_path: Path
) -> None:
    """GIVEN max_size_mb below every recipe WHEN optimized THEN it fails after quantizing,
    before scoring any (no speed or accuracy in the report), naming the smallest recipe,
    its size, how far over, and the max_size_mb that admits it. GIVEN a limit between the
    int8 and fp32 sizes THEN fp32 is never scored, recorded as over the size budget, and
    int8 wins."""
    from optimize.pipeline import run_optimize

    said: list[str] = []
    with pytest.raises(AccuracyBudgetError) as err:
        run_optimize(
            _tiny_model(tiny_sources, tmp_path, 0.001), tmp_path / "a", progress=said.append
        )
    sizes = {r["recipe"]: int(r["size_bytes"]) for r in err.value.report}  # type: ignore[call-overload]
    assert set(sizes) == {"fp32-optimized", "dynamic-int8"}
    assert all("texts_per_s" not in r for r in err.value.report)
    assert not any("score" in line for line in said)
    int8 = sizes["dynamic-int8"] / 1e6
    assert int8 < sizes["fp32-optimized"] / 1e6
    message = str(err.value)
    assert (
        f"closest: dynamic-int8 at {int8:.1f} MB, {int8 - 0.001:.1f} MB over max_size_mb = "
        f"0.001; set [models.b.optimize] max_size_mb >= {math.ceil(int8)}"
    ) in message
    assert "Nothing was written" in message

    between = (sizes["dynamic-int8"] + sizes["fp32-optimized"]) / 2e6
    built = run_optimize(
        _tiny_model(tiny_sources, tmp_path, between), tmp_path / "b", progress=lambda _m: None
    )
    q = built.manifest.to_json()["quantization"]
    assert q["recipe"] == "dynamic-int8"
    fp32 = q["candidates"]["fp32-optimized"]
    assert "texts_per_s" not in fp32 and "mean_cosine" not in fp32
    assert fp32["size_bytes"] == sizes["fp32-optimized"]
    assert fp32["failures"] == [
        f"size {sizes['fp32-optimized'] / 1e6:.1f} MB > {between} MB (not scored)"
    ]
    assert fp32["verdict"].startswith("lost: over max_size_mb, not scored")
    assert "not scored, over max_size_mb: fp32-optimized" in q["reason"]


def test_changed_build_code_is_a_changed_fingerprint(
    tiny_sources: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN the same model and settings WHEN optimize's own code differs (its digest) THEN
    the fingerprint differs, so an artifact built by older build code is not reused."""
    from optimize import pipeline

    (tmp_path / "precast.toml").write_text(f'[models.m]\nsource = "{tiny_sources["bert"]}"\n')
    model = load_config(tmp_path / "precast.toml").model("m")
    before = pipeline.fingerprint(model, tiny_sources["bert"])
    assert pipeline.fingerprint(model, tiny_sources["bert"]) == before
    monkeypatch.setattr(pipeline, "builder_digest", lambda: "another-build-step")
    assert pipeline.fingerprint(model, tiny_sources["bert"]) != before

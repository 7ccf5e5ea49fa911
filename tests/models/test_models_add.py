"""``precast models add``: a model directory in, a commented, schema-valid precast.toml
entry out, saying what it detected; a directory it cannot handle is refused naming what
is missing, and nothing is written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from precast.cli import main
from precast.project.config import load_config

pytestmark = pytest.mark.slow


def add(config: Path, *args: str) -> int:
    return main(["--config", str(config), "models", "add", *args])


def test_an_embedder_with_prompts_is_detected_and_written(
    tiny_sources: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN the XLM-R sentence-transformers directory WHEN added THEN the output names the
    architecture, task, pooling, normalization and prompts, and precast.toml gains a
    commented [models.e5] table the config schema loads (max_tokens: the model's 128)."""
    config = tmp_path / "precast.toml"
    assert add(config, "e5", "--source", str(tiny_sources["xlm-roberta"])) == 0
    out = capsys.readouterr().out
    for fact in (
        "xlm-roberta (XLMRobertaModel)",
        "feature-extraction",
        "Unigram",
        "'<pad>'",
        "pooling: mean",
        "normalize: True",
        "query='query: '",
    ):
        assert fact in out, fact
    text = config.read_text()
    assert '# pooling = "mean"  # from 1_Pooling/config.json' in text
    model = load_config(config).model("e5")
    assert (model.task, model.max_tokens, model.pooling) == ("feature-extraction", 128, None)
    assert model.source_dir() == tiny_sources["xlm-roberta"].resolve()


@pytest.mark.parametrize(
    ("name", "task", "fact"),
    [
        ("bert-sentiment", "text-classification", "LABEL_A, LABEL_B, LABEL_C (single_label"),
        ("roberta-topics", "text-classification", "(multi_label_classification)"),
        ("xlmr-reranker", "text-ranking", "XLMRobertaForSequenceClassification"),
    ],
)
def test_task_heads_are_detected(
    tiny_sources: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    task: str,
    fact: str,
) -> None:
    """GIVEN a classifier, a multi-label classifier and a one-label cross-encoder WHEN added
    THEN the task, the labels from id2label and the problem type are what it reports."""
    config = tmp_path / "precast.toml"
    assert add(config, "m", "--source", str(tiny_sources[name])) == 0
    out = capsys.readouterr().out
    assert f"task: {task}" in out and fact in out
    assert load_config(config).model("m").task == task


def test_eval_file_feeds_the_accuracy_gate(tiny_sources: dict[str, Path], tmp_path: Path) -> None:
    """GIVEN --eval-file with the user's own texts WHEN the written entry is optimized
    THEN the gate scored the recipes on those texts (the manifest's eval_set says so)."""
    from optimize.pipeline import run_optimize

    texts = tmp_path / "domain.jsonl"
    texts.write_text(
        "".join(
            json.dumps({"text": f"invoice {i} is overdue by {i} days"}) + "\n" for i in range(20)
        )
    )
    config = tmp_path / "precast.toml"
    assert add(config, "b", "--source", str(tiny_sources["bert"]), "--eval-file", str(texts)) == 0
    assert 'eval_file = "domain.jsonl"' in config.read_text()
    model = load_config(config).model("b")
    built = run_optimize(model, tmp_path / "artifacts", progress=lambda _m: None)
    assert built.manifest.metrics.eval_set == "20 texts of domain.jsonl"
    assert (built.manifest.smoke.texts or ("",))[0].startswith("invoice")


def broken(
    source: Path, tmp_path: Path, *, drop: str = "", config: dict[str, str] | None = None
) -> Path:
    copy = tmp_path / "broken"
    shutil.copytree(source, copy)
    if drop:
        (copy / drop).unlink()
    if config:
        doc = json.loads((copy / "config.json").read_text())
        (copy / "config.json").write_text(json.dumps(doc | config))
    return copy


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"drop": "config.json"}, "has no config.json"),
        ({"drop": "tokenizer.json"}, "has no tokenizer.json (a fast tokenizer file"),
        ({"config": {"model_type": "gpt2"}}, "'gpt2' is not supported. Choices are: bert|"),
        (
            {"drop": "modules.json", "config": {"architectures": ["BertForTokenClassification"]}},
            "'BertForTokenClassification' is not an encoder precast serves",
        ),
        ({"drop": "model.safetensors"}, "has no PyTorch weights (model.safetensors"),
    ],
)
def test_a_directory_it_cannot_handle_is_refused_naming_what_is_missing(
    tiny_sources: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, object],
    needle: str,
) -> None:
    """GIVEN a directory missing a file or with an unsupported model WHEN added THEN exit 1,
    the error names what is missing or unsupported, and no precast.toml is written."""
    source = broken(tiny_sources["bert"], tmp_path, **change)  # type: ignore[arg-type]
    config = tmp_path / "precast.toml"
    assert add(config, "x", "--source", str(source)) == 1
    assert needle in capsys.readouterr().err
    assert not config.exists()


def test_a_taken_name_or_a_bad_eval_file_changes_nothing(
    tiny_sources: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN an existing [models.b] WHEN b is added again, or an eval file has a line
    without text THEN exit 1 with the reason, and precast.toml is byte for byte unchanged."""
    config = tmp_path / "precast.toml"
    assert add(config, "b", "--source", str(tiny_sources["bert"])) == 0
    before = config.read_bytes()
    assert add(config, "b", "--source", str(tiny_sources["mpnet"])) == 1
    assert "[models.b] exists already" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"body": "no text"}\n')
    assert add(config, "c", "--source", str(tiny_sources["mpnet"]), "--eval-file", str(bad)) == 1
    assert 'line 2 needs a non-empty "text"' in capsys.readouterr().err
    assert config.read_bytes() == before

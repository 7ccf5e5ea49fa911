"""Randomly initialised BASE-SIZE models (12 layers x 768 hidden, 12 heads, 3072
intermediate, 512 positions) of every architecture precast serves, built offline.

Graph fusions and speed depend on the shapes, not on the weights, so a random base-size
model shows what a real one does (what ORT fuses, how fast it runs) at a fraction of the
download. Each is saved as people save real ones: a sentence-transformers directory
(Transformer -> Pooling(mean) -> Normalize) whose ``config.json`` names the head the model
was pre-trained with (``MPNetForMaskedLM``, ``BertForPreTraining``...) over the base
model's weights. The tokenizers are :mod:`tiny_models`'s (a 600-token vocabulary trained on
local text), which keeps each save near 340 MB. :func:`build_base` caches them under
``.precast/test-models/base-<hash>/``, keyed by a hash of this file and of tiny_models.py.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tiny_models

HIDDEN = 768
LAYERS = 12
HEADS = 12
INTERMEDIATE = 3072
POSITIONS = 512  # tokens; roberta-like models add pad + 1 position rows (514)
LAYER_NORM_EPS = {"roberta": 1e-5, "xlm-roberta": 1e-5, "mpnet": 1e-5}  # as the real ones


@dataclass(frozen=True)
class BaseSpec:
    name: str  # the architecture, as optimize.source.ARCHITECTURES names it
    tokenizer: str  # tiny_models' tokenizer family
    head: str  # the pre-training head config.json names, as real saves do


BASE = (
    BaseSpec("bert", "wordpiece", "BertForPreTraining"),
    BaseSpec("distilbert", "wordpiece", "DistilBertForMaskedLM"),
    BaseSpec("roberta", "bpe", "RobertaForMaskedLM"),
    BaseSpec("xlm-roberta", "unigram", "XLMRobertaForMaskedLM"),
    BaseSpec("mpnet", "wordpiece", "MPNetForMaskedLM"),
)


def _config(spec: BaseSpec, tokenizer: Any, layers: int) -> Any:
    import transformers

    pad = tokenizer.pad_token_id
    roberta_like = spec.name in ("roberta", "xlm-roberta", "mpnet")
    positions = POSITIONS + pad + 1 if roberta_like else POSITIONS
    common: dict[str, Any] = {
        "vocab_size": len(tokenizer),
        "pad_token_id": pad,
        "max_position_embeddings": positions,
    }
    if spec.name == "distilbert":
        return transformers.DistilBertConfig(
            dim=HIDDEN, n_layers=layers, n_heads=HEADS, hidden_dim=INTERMEDIATE, **common
        )
    cls = {
        "bert": transformers.BertConfig,
        "roberta": transformers.RobertaConfig,
        "xlm-roberta": transformers.XLMRobertaConfig,
        "mpnet": transformers.MPNetConfig,
    }[spec.name]
    extra: dict[str, Any] = {"bos_token_id": 0, "eos_token_id": 2} if roberta_like else {}
    if spec.name in LAYER_NORM_EPS:
        extra["layer_norm_eps"] = LAYER_NORM_EPS[spec.name]
    return cls(
        hidden_size=HIDDEN,
        num_hidden_layers=layers,
        num_attention_heads=HEADS,
        intermediate_size=INTERMEDIATE,
        **extra,
        **common,
    )


def build(spec: BaseSpec, out: Path, *, layers: int = LAYERS) -> Path:
    """Write one base-size sentence-transformers directory to ``out``."""
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    torch.manual_seed(23)
    tokenizer = tiny_models._fast_tokenizer(tiny_models.Spec(spec.name, spec.name, spec.tokenizer))
    tokenizer.model_max_length = POSITIONS
    model = transformers.AutoModel.from_config(_config(spec, tokenizer, layers))
    hf_dir = out.with_name(out.name + ".hf")
    model.save_pretrained(hf_dir)
    tokenizer.save_pretrained(hf_dir)
    modules = [
        Transformer(str(hf_dir), max_seq_length=POSITIONS),
        Pooling(HIDDEN, pooling_mode="mean"),
        Normalize(),
    ]
    SentenceTransformer(modules=modules, device="cpu").save(str(out))
    shutil.rmtree(hf_dir)
    config_path = out / "config.json"
    config = json.loads(config_path.read_text())
    config["architectures"] = [spec.head]  # as saves of pre-trained checkpoints do
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    return out


def _builder_hash() -> str:
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(Path(tiny_models.__file__).read_bytes())
    return digest.hexdigest()[:12]


def build_base(
    root: Path, specs: tuple[BaseSpec, ...] = BASE, *, layers: int = LAYERS
) -> dict[str, Path]:
    """Every spec built once under ``root/base-<hash>-<layers>/<name>`` (atomic rename)."""
    builders = {s.name: (lambda out, s=s: build(s, out, layers=layers)) for s in specs}
    return tiny_models.build_cached(root / f"base-{_builder_hash()}-{layers}", builders)

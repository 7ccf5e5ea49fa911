"""Tiny randomly initialised models, built here from transformers configs and tokenizers
trained on local text (Python stdlib docstrings): nothing comes from a model hub.

Each builder writes a sentence-transformers directory (``modules.json``, ``1_Pooling``,
optionally ``2_Normalize`` and prompts) or, for the task heads, a transformers directory
with ``id2label``. :func:`build_all` caches them under ``.precast/test-models/<hash>/``,
keyed by a hash of this file, so a warm machine builds nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HIDDEN = 32
LAYERS = 2
HEADS = 2
POSITIONS = 128  # max_tokens 256 in the config is capped to what the model can embed
VOCAB = 600


@dataclass(frozen=True)
class Spec:
    """What one tiny model is: its architecture, its tokenizer family, its ST modules."""

    name: str
    model_type: str
    tokenizer: str  # wordpiece | bpe | unigram
    pooling: str = "mean"
    normalize: bool = True
    prompts: dict[str, str] | None = None
    task: str = "feature-extraction"
    num_labels: int = 0
    problem_type: str | None = None


EMBEDDERS = (
    Spec("bert", "bert", "wordpiece", pooling="mean", normalize=True),
    Spec("distilbert", "distilbert", "wordpiece", pooling="cls", normalize=False),
    Spec("roberta", "roberta", "bpe", pooling="max", normalize=True),
    Spec(
        "xlm-roberta",
        "xlm-roberta",
        "unigram",
        pooling="mean",
        normalize=True,
        prompts={"query": "query: ", "passage": "passage: "},
    ),
    Spec("mpnet", "mpnet", "wordpiece", pooling="lasttoken", normalize=True),
)
CLASSIFIERS = (
    Spec("bert-sentiment", "bert", "wordpiece", task="text-classification", num_labels=3),
    Spec(
        "roberta-topics",
        "roberta",
        "bpe",
        task="text-classification",
        num_labels=4,
        problem_type="multi_label_classification",
    ),
)
RANKERS = (Spec("xlmr-reranker", "xlm-roberta", "unigram", task="text-ranking", num_labels=1),)
ALL = EMBEDDERS + CLASSIFIERS + RANKERS

# special tokens per tokenizer family, in id order (the order the model configs assume)
_BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_ROBERTA_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def _texts() -> list[str]:
    from optimize import corpus

    return list(corpus.sample(800, offset=3000))


def _fast_tokenizer(spec: Spec) -> Any:
    """A transformers fast tokenizer around a ``tokenizers`` model trained on local text."""
    import transformers
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )

    texts = _texts()
    roberta_like = spec.model_type in ("roberta", "xlm-roberta", "mpnet")
    specials = _ROBERTA_SPECIALS if roberta_like else _BERT_SPECIALS
    bos, eos = (specials[0], specials[2]) if roberta_like else ("[CLS]", "[SEP]")
    if spec.tokenizer == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token=specials[3 if roberta_like else 1]))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        trainer: Any = trainers.WordPieceTrainer(vocab_size=VOCAB, special_tokens=specials)
    elif spec.tokenizer == "bpe":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=VOCAB,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )
    else:
        tok = Tokenizer(models.Unigram())
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(
            vocab_size=VOCAB, special_tokens=specials, unk_token=specials[3]
        )
    tok.train_from_iterator(texts, trainer)
    ids = {t: tok.token_to_id(t) for t in specials}
    if spec.tokenizer == "bpe":
        tok.post_processor = processors.RobertaProcessing((eos, ids[eos]), (bos, ids[bos]))
    else:
        pair = (
            f"{bos} $A {eos} {eos} $B:1 {eos}:1" if roberta_like else f"{bos} $A {eos} $B:1 {eos}:1"
        )
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A {eos}",
            pair=pair,
            special_tokens=[(bos, ids[bos]), (eos, ids[eos])],
        )
    cls = {
        "bert": transformers.BertTokenizerFast,
        "distilbert": transformers.DistilBertTokenizerFast,
        "roberta": transformers.RobertaTokenizerFast,
        "xlm-roberta": transformers.XLMRobertaTokenizerFast,
        "mpnet": transformers.MPNetTokenizerFast,
    }[spec.model_type]
    kwargs: dict[str, Any] = (
        {
            "bos_token": bos,
            "eos_token": eos,
            "sep_token": eos,
            "cls_token": bos,
            "pad_token": specials[1],
            "unk_token": specials[3],
            "mask_token": specials[4],
        }
        if roberta_like
        else {
            "cls_token": bos,
            "sep_token": eos,
            "pad_token": specials[0],
            "unk_token": specials[1],
            "mask_token": specials[4],
        }
    )
    return cls(tokenizer_object=tok, model_max_length=POSITIONS, **kwargs)


def _config(spec: Spec, tokenizer: Any) -> Any:
    import transformers

    pad = tokenizer.pad_token_id
    common: dict[str, Any] = {"vocab_size": len(tokenizer), "pad_token_id": pad}
    roberta_like = spec.model_type in ("roberta", "xlm-roberta", "mpnet")
    positions = POSITIONS + pad + 1 if roberta_like else POSITIONS
    if spec.num_labels:
        common["num_labels"] = spec.num_labels
        common["id2label"] = {i: f"LABEL_{chr(65 + i)}" for i in range(spec.num_labels)}
        common["label2id"] = {v: k for k, v in common["id2label"].items()}
        if spec.problem_type:
            common["problem_type"] = spec.problem_type
    if spec.model_type == "distilbert":
        return transformers.DistilBertConfig(
            dim=HIDDEN,
            n_layers=LAYERS,
            n_heads=HEADS,
            hidden_dim=2 * HIDDEN,
            max_position_embeddings=positions,
            **common,
        )
    cls = {
        "bert": transformers.BertConfig,
        "roberta": transformers.RobertaConfig,
        "xlm-roberta": transformers.XLMRobertaConfig,
        "mpnet": transformers.MPNetConfig,
    }[spec.model_type]
    extra = {"bos_token_id": 0, "eos_token_id": 2} if roberta_like else {}
    return cls(
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        intermediate_size=2 * HIDDEN,
        max_position_embeddings=positions,
        **extra,
        **common,
    )


def build(spec: Spec, out: Path) -> Path:
    """Write one tiny model to ``out`` (a sentence-transformers dir for embedders)."""
    import torch
    import transformers

    torch.manual_seed(12)
    tokenizer = _fast_tokenizer(spec)
    config = _config(spec, tokenizer)
    if spec.task == "feature-extraction":
        model = transformers.AutoModel.from_config(config)
    else:
        model = transformers.AutoModelForSequenceClassification.from_config(config)
    hf_dir = out if spec.task != "feature-extraction" else out.with_name(out.name + ".hf")
    model.save_pretrained(hf_dir)
    tokenizer.save_pretrained(hf_dir)
    if spec.task != "feature-extraction":
        return out
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    modules: list[Any] = [
        Transformer(str(hf_dir), max_seq_length=POSITIONS),
        Pooling(HIDDEN, pooling_mode=spec.pooling),
    ]
    if spec.normalize:
        modules.append(Normalize())
    st = SentenceTransformer(modules=modules, prompts=spec.prompts, device="cpu")
    st.save(str(out))
    shutil.rmtree(hf_dir)
    return out


def _builder_hash() -> str:
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


def build_all(root: Path, specs: tuple[Spec, ...] = ALL) -> dict[str, Path]:
    """Every spec built once under ``root/<hash of this file>/<name>`` (atomic rename)."""
    return build_cached(
        root / _builder_hash(), {s.name: (lambda out, s=s: build(s, out)) for s in specs}
    )


def build_cached(base: Path, builders: dict[str, Callable[[Path], Path]]) -> dict[str, Path]:
    """name -> ``base/name``, each built once by its builder into a private directory and
    renamed into place (a crash never leaves a half-written model), offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    base.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for name, builder in builders.items():
        target = base / name
        if not (target / "config.json").exists():
            work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=base))
            builder(work / name)
            if not target.exists():
                os.rename(work / name, target)
            shutil.rmtree(work, ignore_errors=True)
        out[name] = target
    return out


def describe(path: Path) -> dict[str, Any]:
    return json.loads((path / "config.json").read_text())


Builder = Callable[[Spec, Path], Path]


def tiny_gate(name: str) -> str:
    """The fp32 recipe and a small evaluation set for tiny model ``name``. A randomly
    initialised model embeds every text almost alike, so which text is another's nearest
    neighbour is a near-tie that an fp32 graph optimisation may flip: the gate's
    neighbour-agreement rule means nothing for it (the tests check parity themselves)."""
    return (
        f'[models.{name}.optimize]\nrecipes = ["fp32-optimized"]\n'
        "calibration_texts = 8\neval_texts = 16\n"
        f"[models.{name}.accuracy]\nmin_neighbour_agreement = 0.0\n"
    )

"""A randomly initialised base-size sentence-transformers model, built here offline.

Speed does not depend on the weights, so a random 12 x 768 model times like a real base-size
one; its accuracy means nothing (recall on random weights is noise): benchmarks report
speed and cosine to fp32 only. The tokenizer is a WordPiece trained on local text (Python
stdlib docstrings); the config keeps a real base model's vocabulary size and positions, so
the embedding matrix and the file sizes are those of a real base model. Nothing comes from
a model hub. (Detection of saves that name a pre-training head is the tests' business;
``--model-dir`` benchmarks such a save.)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

VOCAB = 30527  # all-mpnet-base-v2's vocabulary
POSITIONS = 512
MAX_SEQ_LENGTH = 384  # all-mpnet-base-v2's sentence-transformers max_seq_length
_SPECIALS = {
    "mpnet": ["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
    "bert": ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
}
ARCHS = ("mpnet", "bert")


def _tokenizer(arch: str, trained_vocab: int) -> Any:
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

    from optimize import corpus

    specials = _SPECIALS[arch]
    mpnet = arch == "mpnet"
    bos, eos, pad, unk, mask = (
        (specials[0], specials[2], specials[1], specials[3], specials[4])
        if mpnet
        else (specials[2], specials[3], specials[0], specials[1], specials[4])
    )
    tok = Tokenizer(models.WordPiece(unk_token=unk))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=trained_vocab, special_tokens=specials)
    tok.train_from_iterator(corpus.sample(3000, offset=0), trainer)
    ids = {t: tok.token_to_id(t) for t in specials}
    pair = f"{bos} $A {eos} {eos} $B:1 {eos}:1" if mpnet else f"{bos} $A {eos} $B:1 {eos}:1"
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=pair, special_tokens=[(bos, ids[bos]), (eos, ids[eos])]
    )
    cls = transformers.MPNetTokenizerFast if mpnet else transformers.BertTokenizerFast
    kwargs = {"cls_token": bos, "sep_token": eos, "pad_token": pad, "unk_token": unk}
    if mpnet:
        kwargs |= {"bos_token": bos, "eos_token": eos}
    return cls(tokenizer_object=tok, model_max_length=POSITIONS, mask_token=mask, **kwargs)


def build_base_model(
    out: Path,
    *,
    arch: str = "mpnet",
    layers: int = 12,
    hidden: int = 768,
    trained_vocab: int = 8000,
    seed: int = 23,
) -> Path:
    """Write a random ``layers`` x ``hidden`` sentence-transformers save (mean pooling,
    Normalize) to ``out``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    if arch not in ARCHS:
        raise ValueError(f"arch {arch!r}: choose one of {', '.join(ARCHS)}")
    torch.manual_seed(seed)
    tokenizer = _tokenizer(arch, trained_vocab)
    cls = transformers.MPNetConfig if arch == "mpnet" else transformers.BertConfig
    pad = tokenizer.pad_token_id
    extra: dict[str, Any] = {"bos_token_id": 0, "eos_token_id": 2} if arch == "mpnet" else {}
    config = cls(
        vocab_size=VOCAB,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 64),
        intermediate_size=4 * hidden,
        max_position_embeddings=POSITIONS + (pad + 1 if arch == "mpnet" else 0),
        pad_token_id=pad,
        **extra,
    )
    hf_dir = out.with_name(out.name + ".hf")
    model = transformers.AutoModel.from_config(config)  # type: ignore[no-untyped-call]
    model.save_pretrained(hf_dir)
    tokenizer.save_pretrained(hf_dir)
    seq = min(MAX_SEQ_LENGTH, POSITIONS)
    modules = [Transformer(str(hf_dir), max_seq_length=seq), Pooling(hidden, pooling_mode="mean")]
    SentenceTransformer(modules=[*modules, Normalize()], device="cpu").save(str(out))
    shutil.rmtree(hf_dir)
    return out

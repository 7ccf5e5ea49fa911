"""Step 1: export the model directory to ONNX with optimum, offline.

The artifact's ``tokenizer.json`` is the source's, with the model's own pad token
(:mod:`optimize.source`) and ``max_tokens`` written into its padding and truncation
settings, so :mod:`edge.tokenization` needs nothing else to tokenize as the model expects.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from optimize.exceptions import ModelSourceError
from optimize.source import SourceModel

TOKENIZER_FILE = "tokenizer.json"
# our task -> optimum's export task (a cross-encoder is a one-label classifier)
OPTIMUM_TASKS = {
    "feature-extraction": "feature-extraction",
    "text-classification": "text-classification",
    "text-ranking": "text-classification",
}


def check_weights(source: SourceModel) -> None:
    """Refuse a checkpoint whose tensors do not load into the model the export builds.

    optimum loads ``AutoModel`` (``AutoModelForSequenceClassification`` for a head), and
    transformers strips a head checkpoint's base-model prefix (``bert.``, ``mpnet.``) itself;
    a tensor it cannot match (another prefix, another architecture) is initialised randomly
    with only a logged warning. Loaded here with transformers' own loading report; the base
    model's unused pooler may be absent."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import transformers

    embeds = source.task == "feature-extraction"
    auto = transformers.AutoModel if embeds else transformers.AutoModelForSequenceClassification
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity(logging.ERROR)
    try:
        model, info = auto.from_pretrained(str(source.path), output_loading_info=True)
    finally:
        transformers.logging.set_verbosity(verbosity)
    name = type(model).__name__
    del model
    missing = [k for k in info["missing_keys"] if not (embeds and k.startswith("pooler."))]
    if missing:
        found = sorted(info["unexpected_keys"])
        raise ModelSourceError(
            f"{', '.join(source.weights)} does not hold {len(missing)} of {name}'s weights "
            f"(e.g. {missing[0]!r}"
            + (f"; it has {found[0]!r} instead" if found else "")
            + "): they would be random. Re-save the model with save_pretrained of its "
            "transformers class (or SentenceTransformer.save) so its tensor names match",
            path=str(source.path),
        )


def export_onnx(source: Path, out_dir: Path, *, task: str) -> Path:
    """Export ``source`` (a local HF model directory) to ``out_dir/model.onnx``.

    Runs with the Hub offline: nothing is downloaded. Returns the ONNX path.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from optimum.exporters.onnx import main_export

    out_dir.mkdir(parents=True, exist_ok=True)
    main_export(
        str(source),
        output=str(out_dir),
        task=OPTIMUM_TASKS[task],
        library_name="transformers",
        opset=18,
        do_validation=False,
        device="cpu",
    )
    model = out_dir / "model.onnx"
    if not model.exists():
        raise RuntimeError(f"optimum export produced no model.onnx in {out_dir}")
    return model


def write_tokenizer(source: SourceModel, out_dir: Path, *, max_tokens: int) -> Path:
    """The source's tokenizer.json with its pad token and truncation set (``tokenizers``)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(source.path / TOKENIZER_FILE))
    tok.enable_padding(pad_id=source.pad_id, pad_token=source.pad_token)
    tok.enable_truncation(max_length=max_tokens)
    out = out_dir / TOKENIZER_FILE
    tok.save(str(out))
    return out

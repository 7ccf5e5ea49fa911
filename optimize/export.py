"""Step 1: export the model directory to ONNX with optimum, offline."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

TOKENIZER_FILE = "tokenizer.json"


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
        task=task,
        library_name="transformers",
        opset=18,
        do_validation=False,
        device="cpu",
    )
    model = out_dir / "model.onnx"
    if not model.exists():
        raise RuntimeError(f"optimum export produced no model.onnx in {out_dir}")
    tokenizer = source / TOKENIZER_FILE
    if not tokenizer.exists():
        tokenizer = out_dir / TOKENIZER_FILE
    if not tokenizer.exists():
        raise RuntimeError(f"{source} has no {TOKENIZER_FILE}; precast needs a fast tokenizer file")
    if tokenizer.parent != out_dir:
        shutil.copyfile(tokenizer, out_dir / TOKENIZER_FILE)
    return model

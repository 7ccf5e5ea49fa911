"""Pooling and normalization of token embeddings into one vector per text.

The modes are sentence-transformers' (``1_Pooling/config.json`` ``pooling_mode``), with its
arithmetic: mean over unmasked tokens, the first token, the element-wise max over unmasked
tokens, or the last unmasked token (right padding).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]


def pool(hidden: F32, mask: npt.NDArray[np.int64], how: str) -> F32:
    """``hidden`` (batch, seq, dim), ``mask`` (batch, seq) -> (batch, dim)."""
    if how == "cls":
        return np.ascontiguousarray(hidden[:, 0, :], dtype=np.float32)
    if how == "lasttoken":
        last = np.clip(mask.sum(axis=1) - 1, 0, None)
        return np.ascontiguousarray(hidden[np.arange(hidden.shape[0]), last], dtype=np.float32)
    m = mask.astype(np.float32)[:, :, None]
    if how == "max":
        masked = np.where(m > 0, hidden, np.float32(-1e9))
        return np.asarray(masked.max(axis=1), dtype=np.float32)
    if how != "mean":
        raise ValueError(f"pooling {how!r}: choices are mean|cls|max|lasttoken")
    summed = (hidden * m).sum(axis=1)
    counts = np.clip(m.sum(axis=1), 1e-9, None)
    out: F32 = (summed / counts).astype(np.float32)
    return out


def l2_normalize(x: F32) -> F32:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out: F32 = (x / np.clip(norms, 1e-12, None)).astype(np.float32)
    return out


def softmax(logits: F32) -> F32:
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    out: F32 = (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
    return out


def sigmoid(logits: F32) -> F32:
    out: F32 = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
    return out

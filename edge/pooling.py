"""Pooling and normalization of token embeddings into one vector per text."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]


def pool(hidden: F32, mask: npt.NDArray[np.int64], how: str) -> F32:
    """``hidden`` (batch, seq, dim), ``mask`` (batch, seq) -> (batch, dim)."""
    if how == "cls":
        return np.ascontiguousarray(hidden[:, 0, :], dtype=np.float32)
    m = mask.astype(np.float32)[:, :, None]
    summed = (hidden * m).sum(axis=1)
    counts = np.clip(m.sum(axis=1), 1e-9, None)
    out: F32 = (summed / counts).astype(np.float32)
    return out


def l2_normalize(x: F32) -> F32:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out: F32 = (x / np.clip(norms, 1e-12, None)).astype(np.float32)
    return out

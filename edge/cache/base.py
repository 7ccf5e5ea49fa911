"""The prediction cache interface every backend implements (SQLite here, DynamoDB on AWS).

Key = sha256(model version, normalized input) (:func:`cache_key`); a (query, passage) pair
has its own key (:func:`pair_cache_key`). An entry records the model version and
when it was made, so a lookup never returns another model's prediction, even if a backend
stores keys from many versions side by side. It also records ``computed_by``, the host kind
and execution plan that computed it (``x86_64-avx512-vnni/per-text``): same version + same
``computed_by`` = the identical answer a live call gives; another certified host kind =
within the bound the manifest states (:func:`edge.hybrid.servable`). Entries are
immutable: the same key always maps to the same prediction, so writes are idempotent and
retries never corrupt anything.
"""

from __future__ import annotations

import hashlib
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from edge.exceptions import CacheUnavailableError

F32 = npt.NDArray[np.float32]


def normalize_input(text: str) -> str:
    """Unicode NFC and outer whitespace stripped: inputs that tokenize alike share a key."""
    return unicodedata.normalize("NFC", text).strip()


def cache_key(model_version: str, text: str) -> str:
    digest = hashlib.sha256()
    digest.update(model_version.encode())
    digest.update(b"\x00")
    digest.update(normalize_input(text).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


# 0xFF never occurs in UTF-8 (surrogatepass included), so no single text's key input
# ``version \x00 text`` can equal a pair's ``version \x00 \xff len(query) query passage``
_PAIR_MARK = b"\xff"


def pair_cache_key(model_version: str, query: str, passage: str) -> str:
    """The key of a (query, passage) pair (text-ranking scores, sentence-pair labels): both
    texts normalized as :func:`cache_key` does, the query length-prefixed so that
    ``("ab", "c")`` and ``("a", "bc")`` differ, and never equal to any single text's key."""
    q = normalize_input(query).encode("utf-8", "surrogatepass")
    p = normalize_input(passage).encode("utf-8", "surrogatepass")
    digest = hashlib.sha256()
    digest.update(model_version.encode())
    digest.update(b"\x00" + _PAIR_MARK + len(q).to_bytes(8, "big"))
    digest.update(q)
    digest.update(p)
    return digest.hexdigest()


def encode_vector(vector: F32) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def decode_vector(blob: bytes) -> F32:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


@dataclass(frozen=True)
class CacheEntry:
    key: str
    model_version: str
    vector: F32
    created_at: float
    expires_at: float | None = None
    computed_by: str = ""  # "<host kind>/<plan>"; "" for entries written before it existed

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or time.time())

    @classmethod
    def make(
        cls,
        model_version: str,
        text: str,
        vector: F32,
        *,
        ttl_s: float | None = None,
        key: str | None = None,
        computed_by: str = "",
    ) -> CacheEntry:
        """``key`` if the caller already computed ``cache_key(model_version, text)``."""
        now = time.time()
        return cls(
            key=key or cache_key(model_version, text),
            model_version=model_version,
            vector=np.asarray(vector, dtype=np.float32),
            created_at=now,
            expires_at=(now + ttl_s) if ttl_s else None,
            computed_by=computed_by,
        )


@runtime_checkable
class PredictionCache(Protocol):
    """What every backend offers. ``get_many`` returns only live entries of that version."""

    def get_many(self, model_version: str, keys: Sequence[str]) -> dict[str, CacheEntry]: ...

    def put_many(self, entries: Sequence[CacheEntry]) -> int:
        """Store entries idempotently; returns how many were newly written."""
        ...

    def reconnect(self) -> None:
        """Drop and re-create connections and handles (after a snapshot restore)."""
        ...

    def close(self) -> None: ...


def reads_are_local(cache: PredictionCache) -> bool:
    """Whether ``cache``'s reads are local file reads that never wait on a network or a
    writer (a backend says so with a ``reads_are_local = True`` class attribute), so a
    server may run them on its event loop instead of a thread."""
    return bool(getattr(cache, "reads_are_local", False))


class CacheWriteIncompleteError(CacheUnavailableError):
    """Some writes of a ``put_many`` failed transiently (throttled, unreachable) after the
    client's retries; ``written`` landed, ``failed_keys`` did not (a caller may retry them:
    entries are immutable, so a repeat never changes one)."""

    def __init__(self, message: str, *, written: int, failed_keys: list[str]) -> None:
        super().__init__(message)
        self.written = written
        self.failed_keys = failed_keys

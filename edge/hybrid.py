"""The hybrid read path: cache first, live inference for the misses, optional write-back.

Functions and batch jobs both go through :func:`predict_with_cache`, so "what counts as a
hit" and "what gets written" are decided once. A cache that is down never fails a
prediction: the misses are computed live and ``cache_error`` says what happened.

The lookup is also a step of its own (:func:`read_cache`), so a server can answer a
request whose texts are all cached without a place in its inference queue, and pass the
lookup on (``read=``) when some texts must be computed. (query, passage) pairs, for
rankers and sentence-pair classifiers, go the same way under their own key
(:func:`pairs_with_cache`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edge.cache.base import CacheEntry, PredictionCache, cache_key, pair_cache_key
from edge.exceptions import CacheError
from edge.limits import check_texts
from edge.model import NO_PROMPT, EdgeModel

F32 = npt.NDArray[np.float32]
Pair = tuple[str, str]


@dataclass
class HybridResult:
    vectors: F32
    cached: list[bool]
    model_version: str
    cache_error: str | None = None
    written: int = 0
    # Cache entries of the live predictions (written already if write_back; a batch job
    # that commits them itself passes write_back=False and takes them from here).
    new_entries: list[CacheEntry] = field(default_factory=list)
    hits: int = field(init=False)

    def __post_init__(self) -> None:
        self.hits = sum(self.cached)


@dataclass
class CacheRead:
    """One ``get_many`` for a list of texts: the keys, the entries found, or why none were."""

    keys: list[str]
    found: dict[str, CacheEntry]
    error: str | None = None

    @property
    def misses(self) -> list[int]:
        return [i for i, k in enumerate(self.keys) if k not in self.found]


def computed_entry(
    model: EdgeModel, key: str, vector: F32, *, ttl_s: float | None = None
) -> CacheEntry:
    """The one constructor of a cache entry that ``model`` computed on this host: its
    version and its ``computed_by`` tag are the model's, never left out (an entry without
    ``computed_by`` is served as a legacy one by every host)."""
    return CacheEntry.make(
        model.version, "", vector, ttl_s=ttl_s, key=key, computed_by=model.computed_by
    )


def servable(entry: CacheEntry, model: EdgeModel) -> bool:
    """Whether a cached answer may be served by ``model`` on this host.

    The cache contract: an entry computed on this host kind with this plan is exactly what a
    live call returns; one computed on another host kind the manifest certifies (or on any
    certified kind, when this host is certified too) is within the manifest's stated bound;
    an entry computed by a host kind the manifest does not certify is not served (it reads
    as a miss and is computed live). Entries from before ``computed_by`` existed are served.
    """
    if not entry.computed_by or entry.computed_by == model.computed_by:
        return True
    kind = entry.computed_by.split("/", 1)[0]
    return kind in model.certification.certified_kinds


def read_keys(
    version: str,
    cache: PredictionCache | None,
    keys: list[str],
    model: EdgeModel | None = None,
) -> CacheRead:
    """Look ``keys`` up (blocking I/O for a remote cache); a failing cache reads as empty.
    With ``model``, entries it may not serve (:func:`servable`) read as misses."""
    if cache is None:
        return CacheRead(keys, {})
    try:
        found = cache.get_many(version, keys)
    except CacheError as exc:
        return CacheRead(keys, {}, f"cache read failed, served live: {exc}")
    if model is not None:
        found = {k: e for k, e in found.items() if servable(e, model)}
    return CacheRead(keys, found)


def read_cache(
    version: str,
    cache: PredictionCache | None,
    texts: Sequence[str],
    model: EdgeModel | None = None,
) -> CacheRead:
    """The lookup of single texts (:func:`edge.cache.base.cache_key`)."""
    return read_keys(version, cache, [cache_key(version, t) for t in texts], model)


def read_pairs(
    version: str,
    cache: PredictionCache | None,
    pairs: Sequence[Pair],
    model: EdgeModel | None = None,
) -> CacheRead:
    """The lookup of (query, passage) pairs (:func:`edge.cache.base.pair_cache_key`)."""
    return read_keys(version, cache, [pair_cache_key(version, q, p) for q, p in pairs], model)


def predict_with_cache(
    model: EdgeModel,
    cache: PredictionCache | None,
    texts: Sequence[str],
    *,
    write_back: bool = True,
    ttl_s: float | None = None,
    enforce_limits: bool = True,
    read: CacheRead | None = None,
    prompt_name: str | None = None,
) -> HybridResult:
    """Cache first, live for the misses, write-back. ``read``: a lookup of these very texts
    made already (:func:`read_cache`); with no misses in it nothing blocks or infers.
    ``prompt_name`` (default: the manifest's default prompt) is prefixed before the cache
    keys are computed, so ``query: x`` and ``passage: x`` are different entries; a caller
    whose texts carry their prompt already passes :data:`edge.model.NO_PROMPT`."""
    if enforce_limits:
        checked = check_texts(texts, model.limits)
    else:
        checked = list(texts)
    checked = model.prompted(checked, prompt_name)
    if read is None:
        read = read_cache(model.version, cache, checked, model)

    def live(miss_idx: list[int]) -> F32:
        return model.predict(
            [checked[i] for i in miss_idx], enforce_limits=False, prompt_name=NO_PROMPT
        )

    return _complete(model, cache, read, len(checked), live, write_back, ttl_s)


def pairs_with_cache(
    model: EdgeModel,
    cache: PredictionCache | None,
    pairs: Sequence[Pair],
    *,
    write_back: bool = True,
    ttl_s: float | None = None,
    read: CacheRead | None = None,
) -> HybridResult:
    """:func:`predict_with_cache` for (query, passage) pairs: one row per pair, a
    text-ranking model's score ``(n, 1)`` or a classifier's label probabilities, each
    pair under its own key. The caller checks the per-request limits."""
    pairs = list(pairs)
    if read is None:
        read = read_pairs(model.version, cache, pairs, model)

    def live(miss_idx: list[int]) -> F32:
        return model.predict_pairs([pairs[i] for i in miss_idx])

    return _complete(model, cache, read, len(pairs), live, write_back, ttl_s)


def _complete(
    model: EdgeModel,
    cache: PredictionCache | None,
    read: CacheRead,
    n: int,
    live_rows: Callable[[list[int]], F32],
    write_back: bool,
    ttl_s: float | None,
) -> HybridResult:
    """The cached rows of ``read`` plus ``live_rows(misses)``, written back unless told not."""
    if len(read.keys) != n:
        raise ValueError(f"read has {len(read.keys)} keys for {n} inputs")
    version = model.version
    keys, found, error = read.keys, read.found, read.error
    miss_idx = read.misses
    dim = model.manifest.dim or 0
    live: F32 | None = None
    if miss_idx:
        live = live_rows(miss_idx)
        dim = live.shape[1]
    elif found:
        dim = next(iter(found.values())).vector.shape[0]
    out = np.empty((n, dim), dtype=np.float32)
    cached = [True] * n
    for i, k in enumerate(keys):
        if k in found:
            out[i] = found[k].vector
    written = 0
    entries: list[CacheEntry] = []
    if live is not None:
        out[miss_idx] = live
        for i in miss_idx:
            cached[i] = False
        entries = [
            computed_entry(model, keys[i], live[j], ttl_s=ttl_s) for j, i in enumerate(miss_idx)
        ]
        if cache is not None and write_back and error is None:
            try:
                written = cache.put_many(entries)
            except CacheError as exc:
                error = f"cache write failed, prediction still served: {exc}"
    return HybridResult(
        vectors=out,
        cached=cached,
        model_version=version,
        cache_error=error,
        written=written,
        new_entries=entries,
    )

"""The hybrid read path: cache first, live inference for the misses, optional write-back.

One path for every input: an :data:`Item` is a text or a (query, passage) pair (rankers
and sentence-pair classifiers), each under its own key (:func:`item_key`), and a list may
hold both. :func:`with_cache` serves a list of items the caller has checked already (the
servers' parsers); batch jobs call it through :func:`predict_with_cache` and
:func:`pairs_with_cache`, which check their inputs first. So "what counts as a hit" and
"what gets written" are decided once. A cache that is down never fails a prediction: the
misses are computed live and ``cache_error`` says what happened.

The lookup is also a step of its own (:func:`read_cache`), so a server can answer a
request whose items are all cached without a place in its inference queue, and pass the
lookup on (``read=``) when some items must be computed.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from edge.cache.base import CacheEntry, PredictionCache, cache_key, pair_cache_key
from edge.exceptions import ArtifactError, CacheError
from edge.limits import check_texts
from edge.model import EdgeModel
from edge.tokenization import Encoded

F32 = npt.NDArray[np.float32]
Pair = tuple[str, str]
Item = str | Pair  # one input: a text, or a (text, text_pair) / (query, passage) pair


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

    @property
    def misses(self) -> int:
        """Rows computed live (not in the cache)."""
        return len(self.cached) - self.hits


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


def item_key(version: str, item: Item) -> str:
    """The cache key of one item: :func:`~edge.cache.base.cache_key` for a text,
    :func:`~edge.cache.base.pair_cache_key` for a pair."""
    return cache_key(version, item) if isinstance(item, str) else pair_cache_key(version, *item)


def read_cache(
    version: str,
    cache: PredictionCache | None,
    items: Sequence[Item],
    model: EdgeModel | None = None,
) -> CacheRead:
    """The lookup of ``items`` (texts, pairs or both), each under its own key."""
    return read_keys(version, cache, [item_key(version, i) for i in items], model)


def live_rows(model: EdgeModel, items: Sequence[Item]) -> F32:
    """The model's rows for checked ``items``, in order, in one run: a text as one sequence
    (its prompt, if any, already prefixed), a pair as one sequence through the tokenizer's
    pair post-processor. Limits, types and blanks are the caller's to check."""
    texts = [(i, t) for i, t in enumerate(items) if isinstance(t, str)]
    pairs = [(i, p) for i, p in enumerate(items) if not isinstance(p, str)]
    if pairs and model.manifest.task == "feature-extraction":
        raise ArtifactError(f"model {model.name!r} embeds single texts, not pairs")
    encoded: dict[int, Encoded] = {}
    if texts:
        done = model.tokenizer.encode([t for _, t in texts])
        encoded.update(zip((i for i, _ in texts), done, strict=True))
    if pairs:
        done = model.tokenizer.encode_pairs([p for _, p in pairs])
        encoded.update(zip((i for i, _ in pairs), done, strict=True))
    return model.predict_encoded([encoded[i] for i in range(len(items))])


def with_cache(
    model: EdgeModel,
    cache: PredictionCache | None,
    items: Sequence[Item],
    *,
    write_back: bool = True,
    ttl_s: float | None = None,
    read: CacheRead | None = None,
) -> HybridResult:
    """Cache first, live for the misses (:func:`live_rows`), write-back. ``items`` are
    checked and final (prompts prefixed). ``read``: a lookup of these very items made
    already (:func:`read_cache`); with no misses in it nothing blocks or infers."""
    items = list(items)
    if read is None:
        read = read_cache(model.version, cache, items, model)
    if len(read.keys) != len(items):
        raise ValueError(f"read has {len(read.keys)} keys for {len(items)} inputs")
    keys, found, error = read.keys, read.found, read.error
    miss_idx = read.misses
    dim = model.manifest.dim or 0
    live: F32 | None = None
    if miss_idx:
        live = live_rows(model, [items[i] for i in miss_idx])
        dim = live.shape[1]
    elif found:
        dim = next(iter(found.values())).vector.shape[0]
    out = np.empty((len(items), dim), dtype=np.float32)
    cached = [True] * len(items)
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
        model_version=model.version,
        cache_error=error,
        written=written,
        new_entries=entries,
    )


def predict_with_cache(
    model: EdgeModel,
    cache: PredictionCache | None,
    texts: Sequence[str],
    *,
    write_back: bool = True,
    ttl_s: float | None = None,
    enforce_limits: bool = True,
    prompt_name: str | None = None,
) -> HybridResult:
    """:func:`with_cache` for texts a caller has not checked (batch jobs): types and blanks
    always, the per-request limits with ``enforce_limits``. ``prompt_name`` (default: the
    manifest's default prompt) is prefixed before the cache keys are computed, so
    ``query: x`` and ``passage: x`` are different entries."""
    if enforce_limits:
        checked = check_texts(texts, model.limits)
    else:
        checked = _checked_types(model, texts)
    checked = model.prompted(checked, prompt_name)
    return with_cache(model, cache, checked, write_back=write_back, ttl_s=ttl_s)


def pairs_with_cache(
    model: EdgeModel,
    cache: PredictionCache | None,
    pairs: Sequence[Pair],
    *,
    write_back: bool = True,
    ttl_s: float | None = None,
) -> HybridResult:
    """:func:`with_cache` for (query, passage) pairs a caller has not checked: types and
    blanks of every text (no per-request limits). One row per pair: a text-ranking model's
    score ``(n, 1)`` or a classifier's label probabilities."""
    flat = _checked_types(model, [t for pair in pairs for t in pair])
    checked = [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
    return with_cache(model, cache, checked, write_back=write_back, ttl_s=ttl_s)


def _checked_types(model: EdgeModel, texts: Sequence[str]) -> list[str]:
    """Types and blanks, not the per-request limits (as ``EdgeModel.predict``); an empty
    list is served as one (no rows)."""
    if isinstance(texts, Sequence) and not isinstance(texts, str) and not texts:
        return []
    n = len(texts) if isinstance(texts, Sequence) else 1
    return check_texts(texts, model.limits_for(n, max_chars=sys.maxsize))

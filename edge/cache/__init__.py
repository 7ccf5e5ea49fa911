"""Prediction cache: one interface, backends chosen by URL.

``sqlite:<path>`` (embedded default) or ``dynamodb:<table>`` (AWS; boto3 imported only then).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge.cache.base import (
    CacheEntry,
    PredictionCache,
    cache_key,
    decode_vector,
    encode_vector,
    normalize_input,
    pair_cache_key,
)
from edge.cache.sqlite import SQLiteCache
from edge.exceptions import CacheError

if TYPE_CHECKING:
    from edge.cache.clients import RetryProfile

__all__ = [
    "CacheEntry",
    "PredictionCache",
    "SQLiteCache",
    "cache_key",
    "pair_cache_key",
    "decode_vector",
    "encode_vector",
    "normalize_input",
    "open_cache",
]


def open_cache(url: str, retry: RetryProfile | None = None) -> PredictionCache:
    """``sqlite:/path/cache.sqlite`` or ``dynamodb:table-name[?endpoint=http://...]``.

    ``retry``: how a remote backend's calls retry (:mod:`edge.cache.clients`); the default
    is the functions' profile (one short try), the batch job passes its own."""
    if url.startswith("sqlite:"):
        return SQLiteCache(url.removeprefix("sqlite:"))
    if url.startswith("dynamodb:"):
        from edge.cache.clients import FUNCTIONS
        from edge.cache.dynamodb import DynamoDBCache  # lazy: boto3 only on AWS hosts

        cache: PredictionCache = DynamoDBCache.from_url(url, retry or FUNCTIONS)
        return cache
    raise CacheError(f"unknown cache URL {url!r}. Choices are: sqlite:<path>|dynamodb:<table>")

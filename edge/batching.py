"""Length-bucketed batching under a token budget.

Texts are sorted by token length, then cut into batches whose padded size
(``batch_size * longest``) stays under ``token_budget``. Padding work falls to near zero
on variable-length text, which is where most of the speed over naive batching comes from.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

DEFAULT_TOKEN_BUDGET = 8192
DEFAULT_MAX_BATCH = 128


def plan_batches(
    lengths: Sequence[int],
    *,
    token_budget: int = DEFAULT_TOKEN_BUDGET,
    max_batch: int = DEFAULT_MAX_BATCH,
) -> Iterator[list[int]]:
    """Yield lists of indices into ``lengths``; every index appears in exactly one batch."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batch: list[int] = []
    longest = 0
    for i in order:
        n = max(1, lengths[i])
        grown = max(longest, n)
        if batch and (grown * (len(batch) + 1) > token_budget or len(batch) >= max_batch):
            yield batch
            batch, grown = [], n
        batch.append(i)
        longest = grown
    if batch:
        yield batch

"""The smoke texts of an artifact: the few shortest evaluation texts whose vectors the
manifest records (:mod:`optimize.artifact`) and each variant records for itself
(:mod:`optimize.variants`), so every host can check it computes the same."""

from __future__ import annotations

from optimize.steps import Reference

SMOKE_TEXTS = 4


def smoke_texts(ref: Reference) -> list[str]:
    return sorted(ref.eval_texts[:64], key=len)[:SMOKE_TEXTS]

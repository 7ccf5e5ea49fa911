"""Step 5: the selection rule, in one place.

A candidate passes when it meets every accuracy threshold and the size limit (when one is
set: ``max_size_mb`` unset is no limit). The size is known right after quantizing, so a
recipe over it is never scored (:func:`over_size`), and a failed budget names the recipe
that came closest (:func:`closest`). Among those that pass, the fastest wins; a candidate
within ``SPEED_TIE`` of the fastest but smaller wins instead, because a few percent is
inside timing noise on a shared machine while size is exact (and is what a device
downloads and Lambda unzips).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from optimize.evaluate import Scores

SPEED_TIE = 0.05


@dataclass(frozen=True)
class Budget:
    min_mean_cosine: float
    min_cosine: float
    min_neighbour_agreement: float
    max_size_mb: float | None
    task: str = "feature-extraction"
    min_top1_agreement: float = 0.95
    max_probability_change: float = 0.05
    min_kendall_tau: float = 0.90

    def describe(self) -> str:
        """The accuracy thresholds of this task, as the budget error states them."""
        if self.task == "text-classification":
            return (
                f"top-1 agreement >= {self.min_top1_agreement}, "
                f"probability change <= {self.max_probability_change}"
            )
        if self.task == "text-ranking":
            return (
                f"top-1 agreement >= {self.min_top1_agreement}, "
                f"Kendall tau >= {self.min_kendall_tau}"
            )
        return (
            f"mean cosine >= {self.min_mean_cosine}, min cosine >= {self.min_cosine}, "
            f"neighbour agreement >= {self.min_neighbour_agreement}"
        )

    def failures(self, s: Scores) -> list[str]:
        out = [] if self.task == "feature-extraction" else self._task_failures(s)
        if self.task == "feature-extraction" and s.mean_cosine < self.min_mean_cosine:
            out.append(f"mean cosine {s.mean_cosine:.4f} < {self.min_mean_cosine}")
        if self.task == "feature-extraction" and s.min_cosine < self.min_cosine:
            out.append(f"min cosine {s.min_cosine:.4f} < {self.min_cosine}")
        if self.task == "feature-extraction" and (
            s.neighbour_agreement < self.min_neighbour_agreement
        ):
            out.append(
                f"neighbour agreement {s.neighbour_agreement:.3f} < {self.min_neighbour_agreement}"
            )
        size_mb = s.size_bytes / 1e6
        if self.max_size_mb is not None and size_mb > self.max_size_mb:
            out.append(f"size {size_mb:.1f} MB > {self.max_size_mb} MB")
        return out

    def _task_failures(self, s: Scores) -> list[str]:
        """text-classification / text-ranking: top-1 agreement, then the task's measure."""
        out = []
        top1 = s.top1_agreement if s.top1_agreement is not None else 0.0
        if top1 < self.min_top1_agreement:
            out.append(f"top-1 agreement {top1:.3f} < {self.min_top1_agreement}")
        change = s.max_probability_change
        if self.task == "text-classification" and (
            change is None or change > self.max_probability_change
        ):
            shown = "unmeasured" if change is None else f"{change:.4f}"
            out.append(f"probability change {shown} > {self.max_probability_change}")
        tau = s.kendall_tau
        if self.task == "text-ranking" and (tau is None or tau < self.min_kendall_tau):
            shown = "unmeasured" if tau is None else f"{tau:.3f}"
            out.append(f"Kendall tau {shown} < {self.min_kendall_tau}")
        return out


def accuracy_of(s: Scores, task: str) -> str:
    """The measures a recipe was gated on, for its task (what the reason records)."""
    top1 = f"top-1 agreement {s.top1_agreement or 0.0:.3f}"
    if task == "text-classification":
        return f"{top1}, max probability change {s.max_probability_change or 0.0:.4f}"
    if task == "text-ranking":
        return f"{top1}, Kendall tau {s.kendall_tau or 0.0:.3f}"
    return f"mean cosine {s.mean_cosine:.4f}"


def most_accurate(scored: dict[str, Scores], task: str) -> str:
    """The recipe closest to fp32 by the task's own measure (for ``--force``)."""

    def key(name: str) -> tuple[float, float]:
        s = scored[name]
        if task == "feature-extraction":
            return (s.mean_cosine, 0.0)
        second = (
            -(s.max_probability_change or 0.0)
            if task == "text-classification"
            else (s.kendall_tau or 0.0)
        )
        return (s.top1_agreement or 0.0, second)

    return max(scored, key=key)


def over_size(sizes: dict[str, int], max_size_mb: float | None) -> dict[str, int]:
    """The recipes (name -> bytes) over ``max_size_mb``; none when it is unset."""
    if max_size_mb is None:
        return {}
    return {n: b for n, b in sizes.items() if b / 1e6 > max_size_mb}


def closest(budget: Budget, model: str, sizes: dict[str, int], scored: dict[str, Scores]) -> str:
    """The recipe nearest a budget nobody met, and by how much, as the error says it.
    Nothing scored (every recipe over ``max_size_mb``): the smallest, and the limit that
    admits it; else the most accurate of those scored, with what it missed."""
    limit = budget.max_size_mb
    unscored = {n: b for n, b in sizes.items() if n not in scored}
    if not scored:
        name = min(sizes, key=lambda n: sizes[n])
        mb = sizes[name] / 1e6
        over = f"{mb - limit:.1f} MB over max_size_mb = {limit:g}; " if limit is not None else ""
        return (
            f"closest: {name} at {mb:.1f} MB, {over}set [models.{model}.optimize] "
            f"max_size_mb >= {math.ceil(mb)}"
        )
    name = most_accurate(scored, budget.task)
    text = f"closest: {name} ({'; '.join(budget.failures(scored[name]))})"
    if unscored:
        smallest = min(unscored.values()) / 1e6
        text += (
            f"; not scored, over max_size_mb = {limit:g}: {', '.join(unscored)} "
            f"(max_size_mb >= {math.ceil(smallest)} lets the smallest compete)"
        )
    return text


def select(scored: dict[str, Scores], budget: Budget) -> tuple[str | None, str]:
    """(winner or None, reason). The reason is what the manifest records."""
    passing = {name: s for name, s in scored.items() if not budget.failures(s)}
    if not passing:
        return None, "no recipe met the budget"
    fastest = max(passing, key=lambda n: passing[n].texts_per_s)
    top = passing[fastest].texts_per_s
    near = [n for n, s in passing.items() if s.texts_per_s >= top * (1 - SPEED_TIE)]
    winner = min(near, key=lambda n: (passing[n].size_bytes, -passing[n].texts_per_s))
    rejected = sorted(set(scored) - set(passing))
    reason = (
        f"fastest within budget: {passing[winner].texts_per_s:.0f} texts/s, "
        f"{accuracy_of(passing[winner], budget.task)}, "
        f"{passing[winner].size_bytes / 1e6:.1f} MB"
    )
    if winner != fastest:
        reason += (
            f"; {fastest} was {top / passing[winner].texts_per_s - 1:.1%} faster "
            f"(inside the {SPEED_TIE:.0%} noise band) but larger"
        )
    if rejected:
        reason += "; over budget: " + "; ".join(
            f"{n} ({', '.join(budget.failures(scored[n]))})" for n in rejected
        )
    return winner, reason

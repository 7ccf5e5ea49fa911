"""How AWS Batch decides a retry from a job definition's ``RetryStrategy``.

AWS Batch evaluates ``EvaluateOnExit`` rules in order; the first whose every given
pattern (``OnExitCode``, ``OnStatusReason``, ``OnReason``; ``*`` globs) matches decides
``RETRY`` or ``EXIT``; when none matches the job is retried. ``Attempts`` bounds the
attempts in all, the first included.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any


def decide(
    rules: Sequence[dict[str, Any]], exit_code: int, *, status_reason: str = "", reason: str = ""
) -> str:
    """``RETRY`` or ``EXIT`` for a failed attempt (``exit_code`` != 0)."""
    for rule in rules:
        checks = (
            (rule.get("OnExitCode"), str(exit_code)),
            (rule.get("OnStatusReason"), status_reason),
            (rule.get("OnReason"), reason),
        )
        if all(p is None or fnmatch.fnmatchcase(value, p) for p, value in checks):
            return str(rule["Action"]).upper()
    return "RETRY"

"""Real text not written for the tests: docstrings of the Python standard library.

Gathered at run time by parsing (not importing) the stdlib sources with ``ast``. The texts
vary in length from a few words to long paragraphs, like real traffic. Split
deterministically into disjoint calibration and evaluation sets, so accuracy is always
measured on text the static recipe was not calibrated on.
"""

from __future__ import annotations

import ast
import hashlib
import sysconfig
from functools import lru_cache
from pathlib import Path

_MIN_CHARS = 20
_MAX_CHARS = 2000


@lru_cache(maxsize=1)
def stdlib_docstrings() -> tuple[str, ...]:
    """Every distinct stdlib docstring of 20..2000 characters, in a stable order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    seen: set[str] = set()
    texts: list[str] = []
    for path in sorted(root.glob("*.py")) + sorted(root.glob("*/*.py")):
        if any(part in {"test", "tests", "idlelib", "site-packages"} for part in path.parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                if doc:
                    text = " ".join(doc.split())
                    if _MIN_CHARS <= len(text) <= _MAX_CHARS and text not in seen:
                        seen.add(text)
                        texts.append(text)
    # A stable shuffle (by content hash) so every split mixes modules and lengths.
    texts.sort(key=lambda t: hashlib.sha256(t.encode()).hexdigest())
    return tuple(texts)


def split(n_calibration: int, n_eval: int) -> tuple[list[str], list[str]]:
    """Disjoint (calibration, evaluation) lists."""
    texts = stdlib_docstrings()
    if len(texts) < n_calibration + n_eval:
        raise RuntimeError(
            f"only {len(texts)} stdlib docstrings found; need {n_calibration + n_eval}"
        )
    return list(texts[:n_calibration]), list(texts[n_calibration : n_calibration + n_eval])


def sample(n: int, *, offset: int = 0) -> list[str]:
    """``n`` texts (cycled if the stdlib has fewer), starting at ``offset``."""
    texts = stdlib_docstrings()
    return [texts[(offset + i) % len(texts)] for i in range(n)]


def read_eval_file(path: Path) -> list[str]:
    """The ``text`` of each JSON line of ``path`` (``--eval-file``: the user's own domain)."""
    import json

    from precast.project.exceptions import ConfigError

    texts: list[str] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"eval_file is unreadable: {exc}", path=str(path)) from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"line {n} is not JSON: {exc}", path=str(path)) from None
        text = record.get("text") if isinstance(record, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f'line {n} needs a non-empty "text" string', path=str(path))
        texts.append(text)
    if len(texts) < 16:
        raise ConfigError(f"has {len(texts)} texts; the accuracy gate needs >= 16", path=str(path))
    return texts


def ranking_pairs(texts: list[str], group: int = 4) -> list[tuple[str, str]]:
    """(query, passage) pairs for the text-ranking gate: each text's first words as a
    query, against the text itself and the next ``group - 1`` texts, ``group`` per query."""
    pairs: list[tuple[str, str]] = []
    for i in range(len(texts) // group):
        passages = texts[i * group : (i + 1) * group]
        query = " ".join(passages[i % group].split()[:6])
        pairs.extend((query, p) for p in passages)
    return pairs

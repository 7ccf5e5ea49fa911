"""Render benchmarks/results/*.json as the README's benchmark section.

.venv/bin/python -m benchmarks.report            # print markdown
.venv/bin/python -m benchmarks.report --readme   # replace the block in README.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
README = HERE.parent / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"
    return str(v)


def _flatten(prefix: str, value: Any, rows: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix} / {k}" if prefix else str(k), v, rows)
    elif isinstance(value, list):
        rows.append((prefix, ", ".join(_fmt(v) for v in value[:8])))
    else:
        rows.append((prefix, _fmt(value)))


def render() -> str:
    out: list[str] = []
    for path in sorted((HERE / "results").glob("*.json")):
        data = json.loads(path.read_text())
        m = data.get("machine", {})
        out.append(
            f"#### {data.get('benchmark', path.stem)} "
            f"(`python -m benchmarks.bench_{path.stem}`, {data.get('at', '?')})\n"
        )
        if m:
            out.append(
                f"Machine: {m.get('cpu')} ({m.get('machine')}, {m.get('cores')} cores), "
                f"ISA: {' '.join(m.get('isa', [])) or '-'}\n"
            )
        rows: list[tuple[str, str]] = []
        for key, value in data.items():
            if key in ("benchmark", "at", "machine"):
                continue
            _flatten(key, value, rows)
        out.append("| measure | value |\n|---|---|")
        out.extend(f"| {k} | {v} |" for k, v in rows)
        out.append("")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--readme", action="store_true", help="rewrite the block in README.md")
    args = ap.parse_args()
    text = render()
    if not args.readme:
        print(text)
        return
    readme = README.read_text()
    if START not in readme or END not in readme:
        raise SystemExit(f"README.md lacks the {START} ... {END} markers")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{text}\n{END}{tail}")
    print("README.md benchmark block updated")


if __name__ == "__main__":
    main()

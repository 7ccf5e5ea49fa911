"""docs/img/benchmarks.svg: precast's throughput over each peer's, per machine, as plain SVG.

One bar per peer: precast's texts/s ÷ the peer's, from ``benchmarks/results/throughput.json``
(the sample model on 2,000 docstrings) and ``engines.json`` (each model against every
engine). Bars are grouped under the machine each file was measured on. No plotting
library: the file is text rendered from the results alone (no date, no random ids), so
``python -m benchmarks.report --write`` rewrites it and tests/docs/test_docs_numbers.py
checks that it equals its rendering, like every number in the docs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parent.parent
SVG = REPO / "docs" / "img" / "benchmarks.svg"

Results = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Bar:
    peer: str
    ratio: float  # precast texts/s ÷ the peer's


@dataclass(frozen=True)
class Group:
    machine: str
    title: str
    bars: tuple[Bar, ...]


def machine_label(data: dict[str, Any]) -> str:
    m = data.get("machine") or {}
    isa = m.get("isa") or []
    extra = ", AVX-512 VNNI" if "avx512_vnni" in isa else ""
    return f"{m.get('cpu', '?')} ({m.get('machine', '?')}, {m.get('cores', '?')} cores{extra})"


def _peer(name: str) -> str:
    return name.replace("sentence-transformers", "ST", 1)


def _throughput(data: dict[str, Any]) -> list[Group]:
    r = data["results"]
    ours = next(
        (v for k, v in r.items() if k.endswith(("(per-text, batch-invariant)", "(bucketed)"))),
        None,
    )
    if ours is None:
        return []
    bars = tuple(
        Bar(_peer(name), ours["texts_per_s"] / row["texts_per_s"])
        for name, row in r.items()
        if not name.startswith("precast")
    )
    title = f"sample MiniLM, {data.get('texts', 0):,} docstrings"
    return [Group(machine_label(data), title, bars)]


def _engines(data: dict[str, Any]) -> list[Group]:
    from benchmarks.doc_numbers import engine_models

    groups = []
    for key, block in engine_models(data).items():
        r = block["results"]
        ours = next(v for k, v in r.items() if k.startswith("precast"))
        bars = tuple(
            Bar(_peer(name), ours["texts_per_s"] / row["texts_per_s"])
            for name, row in r.items()
            if not name.startswith("precast")
        )
        title = f"{key}: {str(block.get('model', key)).split(' (')[0]}, {block.get('pairs')} docs"
        groups.append(Group(machine_label(data), title, bars))
    return groups


def groups(results: Results) -> list[Group]:
    """Every group the chart draws, in a fixed order: throughput first, then engines."""
    out: list[Group] = []
    if "throughput" in results:
        out += _throughput(results["throughput"])
    if "engines" in results:
        out += _engines(results["engines"])
    return out


# layout, in px
WIDTH, LABEL_W, BAR_X, BAR_W = 760, 300, 310, 380
ROW, BAR_H, HEAD = 20, 13, 24
FASTER, SLOWER = "#2f6fb0", "#c8642a"


def _n(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def render_svg(results: Results) -> str:
    drawn = groups(results)
    top = max((b.ratio for g in drawn for b in g.bars), default=1.0)
    scale_max = max(2, math.ceil(top))
    px = BAR_W / scale_max

    body: list[str] = []
    y = 44
    machine = None
    for group in drawn:
        if group.machine != machine:
            machine = group.machine
            body.append(f'<text x="8" y="{y + 14}" class="machine">{escape(machine)}</text>')
            y += HEAD
        body.append(f'<text x="16" y="{y + 14}" class="group">{escape(group.title)}</text>')
        y += HEAD - 4
        for bar in group.bars:
            w = bar.ratio * px
            colour = FASTER if bar.ratio >= 1 else SLOWER
            body.append(
                f'<text x="{LABEL_W}" y="{y + 11}" class="peer">{escape(bar.peer)}</text>'
                f'<rect x="{BAR_X}" y="{y + 1}" width="{_n(w)}" height="{BAR_H}" '
                f'fill="{colour}"/>'
                f'<text x="{_n(BAR_X + w + 4)}" y="{y + 11}" class="value">{bar.ratio:.2f}×</text>'
            )
            y += ROW
        y += 6
    bottom = y
    axis = []
    for tick in range(scale_max + 1):
        x = _n(BAR_X + tick * px)
        if tick != 1:
            axis.append(f'<line x1="{x}" y1="40" x2="{x}" y2="{bottom}" stroke="#ddd"/>')
        axis.append(f'<text x="{x}" y="{bottom + 14}" class="tick">{tick}×</text>')
    one = _n(BAR_X + px)  # the 1× line, drawn over the bars
    parity = (
        f'<line x1="{one}" y1="40" x2="{one}" y2="{bottom}" stroke="#333" stroke-dasharray="4 3"/>'
    )
    height = bottom + 58
    legend = (
        f'<text x="8" y="{bottom + 34}" class="note">Bar: precast texts/s ÷ the peer\'s, '
        "same machine, same texts. Right of the dashed 1× line precast is faster (blue),</text>"
        f'<text x="8" y="{bottom + 48}" class="note">left of it the peer is (orange). '
        "ST: sentence-transformers.</text>"
    )
    head = [
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        'font-family="Helvetica, Arial, sans-serif" font-size="12">',
        "<title>precast throughput over each peer's, per machine</title>",
        "<style>.machine{font-weight:bold;font-size:13px}.group{font-weight:bold;fill:#333}"
        ".peer{text-anchor:end;fill:#333}.value{fill:#111}.tick{text-anchor:middle;fill:#666;"
        "font-size:11px}.note{fill:#555;font-size:11px}</style>",
        f'<rect width="{WIDTH}" height="{height}" fill="#fff"/>',
        '<text x="8" y="22" font-size="15" font-weight="bold">precast throughput ÷ each '
        "peer's (texts/s), benchmarks/results/</text>",
    ]
    return "\n".join([*head, *axis, *body, parity, legend, "</svg>"]) + "\n"


def stale(results: Results, path: Path = SVG) -> bool:
    """Whether ``path`` differs from the chart ``results`` render."""
    return not path.exists() or path.read_text(encoding="utf-8") != render_svg(results)


def write(results: Results, path: Path = SVG) -> bool:
    """Render the chart into ``path``; whether it changed."""
    if not stale(results, path):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_svg(results), encoding="utf-8")
    return True

"""Every benchmark number in README.md and docs/*.md, rendered from benchmarks/results/*.json.

Two forms, both rewritten by ``python -m benchmarks.report --write`` and compared with the
results by tests/docs/test_docs_numbers.py:

* a value in prose: ``<!--bench:edge:bundle_size.bundle_mb:.1f-->16.8<!--/bench-->``
  (result file stem, dotted key path, optional format spec; default ``,.1f`` for floats);
* a table: ``<!-- bench:NAME:start -->`` ... ``<!-- bench:NAME:end -->``, rendered by the
  function registered under NAME in ``TABLES`` (docs/benchmarks.md's whole
  section is ``<!-- bench:start -->`` ... ``<!-- bench:end -->``, rendered by ``report.render``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
VALUE = re.compile(r"<!--bench:(\w+):([^:>]+)(?::([^>]*))?-->(.*?)<!--/bench-->")
TABLE = re.compile(r"(<!-- bench:(\w+):start -->\n)(.*?)(<!-- bench:\2:end -->)", re.DOTALL)

Results = dict[str, dict[str, Any]]


def load_results(directory: Path = HERE / "results") -> Results:
    return {p.stem: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))}


def lookup(results: Results, stem: str, path: str) -> Any:
    """The value at ``path`` (keys separated by dots) of results file ``stem``."""
    node: Any = results.get(stem)
    if node is None:
        raise KeyError(f"no benchmarks/results/{stem}.json")
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            raise KeyError(f"benchmarks/results/{stem}.json has no {path!r}")
        node = node[key]
    return node


def format_value(value: Any, spec: str | None) -> str:
    if spec:
        return format(value, spec)
    if isinstance(value, float):
        return format(value, ",.1f")
    return str(value)


def _v(results: Results, stem: str, path: str, spec: str = ",.1f") -> str:
    return format_value(lookup(results, stem, path), spec)


def edge_table(r: Results) -> str:
    def cold(k: str) -> str:
        return _v(r, "edge", f"cold_start.{k}.median_s", ".2f")

    def warm(who: str) -> str:
        return " / ".join(
            _v(r, "edge", f"warm_single_text_latency.{who}.{q}", ".0f")
            for q in ("p50_ms", "p99_ms")
        )

    def rate(who: str) -> str:
        return _v(r, "edge", f"batch_throughput.{who}.texts_per_s")

    return "\n".join(
        [
            f"Measured {lookup(r, 'edge', 'at')[:10]}, artifact `{lookup(r, 'edge', 'artifact')}`"
            f" ({lookup(r, 'edge', 'recipe')}):",
            "",
            "| what | edge | sentence-transformers (PyTorch fp32) |",
            "|------|------|--------------------------------------|",
            f"| shipped size | {_v(r, 'edge', 'bundle_size.bundle_mb')} MB signed bundle "
            f"(target <= {_v(r, 'edge', 'bundle_size.target_mb', '.0f')} MB) "
            "| the model directory + torch |",
            f"| cold start (new process → 1 vector), median of "
            f"{lookup(r, 'edge', 'params.cold_runs')} | {cold('edge_bundle_reused')} s bundle "
            f"({cold('edge_bundle_first_open')} s on first open: verify + unpack); "
            f"{cold('edge_artifact_dir')} s artifact dir | {cold('st_fp32')} s "
            f"({_v(r, 'edge', 'ratios.cold_start_st_over_edge_bundle', '.0f')}x the bundle) |",
            f"| warm, 1 text, p50 / p99 ({lookup(r, 'edge', 'params.warm_texts')} texts) "
            f"| {warm('edge')} ms | {warm('st_fp32')} ms |",
            f"| batch throughput, {lookup(r, 'edge', 'params.batch_texts')} stdlib docstrings "
            f"| {rate('edge')} texts/s | {rate('st_fp32')} texts/s "
            f"({_v(r, 'edge', 'ratios.throughput_edge_over_st_fp32', '.1f')}x slower); bf16 "
            f"{rate('st_bf16')} texts/s on {lookup(r, 'edge', 'params.bf16_texts')} texts |",
            "",
            "Edge vectors agree with sentence-transformers fp32 at mean cosine "
            f"{_v(r, 'edge', 'agreement_with_st_fp32.mean_cosine', '.4f')} (min "
            f"{_v(r, 'edge', 'agreement_with_st_fp32.min_cosine', '.4f')}).",
        ]
    )


def functions_table(r: Results) -> str:
    def w(key: str, q: str) -> str:
        return _v(r, "functions", f"warm_handler.{key}.{q}", ",.1f")

    def pair(key: str) -> str:
        return f"{w(key, 'p50_ms')} / {w(key, 'p99_ms')}"

    def asset(arch: str) -> str:
        a = f"lambda_asset.{arch}"
        return f"{arch} {_v(r, 'functions', a + '.unzipped_mb')} MB ({_v(r, 'functions', a + '.zip_mb')} MB)"  # noqa: E501

    cold = "cold_start.precast_asset"
    server = "server_32_clients"
    return "\n".join(
        [
            f"Measured {lookup(r, 'functions', 'at')[:10]}, artifact "
            f"`{lookup(r, 'functions', 'artifact')}`:",
            "",
            "| measure | precast | sentence-transformers | target |",
            "|---|---|---|---|",
            "| Lambda handler cold start: fresh process → import → one Function URL event "
            f"answered (median of {lookup(r, 'functions', cold + '.n')}) | "
            f"{_v(r, 'functions', cold + '.median_s', '.2f')} s (init "
            f"{_v(r, 'functions', cold + '.init_median_s', '.2f')} s) | "
            f"{_v(r, 'functions', 'cold_start.sentence_transformers.median_s', '.2f')} s (fp32) "
            f"| ≤ 0.6 s; ≤ 1/5 of ST (got 1/{_v(r, 'functions', 'cold_start.speedup_vs_st', '.0f')}) |",  # noqa: E501
            f"| Lambda asset unzipped (zip) | {asset('x86_64')}, {asset('arm64')} | — | ≤ 150 MB |",
            "| warm request, 1 input, cache miss p50 / p99 | "
            f"{pair('precast_1_inputs_miss')} ms | fp32 {pair('st_fp32_1_inputs')} ms, "
            f"bf16 {pair('st_bf16_1_inputs')} ms | — |",
            "| warm request, 32 inputs, cache miss p50 / p99 | "
            f"{pair('precast_32_inputs_miss')} ms | fp32 {pair('st_fp32_32_inputs')} ms, "
            f"bf16 {pair('st_bf16_32_inputs')} ms | — |",
            f"| warm request, 1 input, cache hit p50 / p99 | {pair('precast_1_input_cache_hit')}"
            " ms | — | — |",
            f"| local server, 32 concurrent clients, {lookup(r, 'functions', server + '.micro_batch.n')}"  # noqa: E501
            " single-text requests | "
            f"{_v(r, 'functions', server + '.micro_batch.requests_per_s')} req/s micro-batched, "
            f"{_v(r, 'functions', server + '.no_micro_batch.requests_per_s')} req/s without "
            f"({_v(r, 'functions', server + '.micro_batch_speedup', '.2f')}x) | — | — |",
        ]
    )


def load_table(r: Results) -> str:
    def both(path: str, spec: str = ",.1f", unit: str = "") -> str:
        return " | ".join(_v(r, "load", f"{side}.{path}", spec) + unit for side in SIDES)

    def pq(kind: str) -> str:
        return " | ".join(
            f"{_v(r, 'load', f'{side}.{kind}.p50_ms')} / "
            f"{_v(r, 'load', f'{side}.{kind}.p99_ms')} ms"
            for side in SIDES
        )

    return "\n".join(
        [
            f"| | before ({lookup(r, 'load', 'before.ref')}) | after |",
            "|---|---|---|",
            f"| requests/s | {both('requests_per_s')} |",
            f"| hit p50 / p99 | {pq('hits')} |",
            f"| miss p50 / p99 | {pq('misses')} |",
            f"| errors | {both('errors', '')} |",
            f"| server RSS growth | {both('rss_mb.growth', '+.1f', ' MB')} |",
        ]
    )


def engine_models(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """engines.json's per-model blocks. A file written before bench_engines measured more than
    one model (one block at the top level, MiniLM) reads as ``{"minilm": ...}``."""
    if "models" in data:
        return dict(data["models"])
    old = {
        **data,
        "model": "sample all-MiniLM-L6-v2 (real weights)",
        "rule": "recall@1 within 0.5 pt of fp32",
        "fastest_peer": {"docs": data.get("fastest_peer_within_half_point")},
        "precast_over_fastest_peer": {"docs": data.get("precast_over_fastest_peer")},
    }
    return {"minilm": old}


def _f(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def engines_table(r: Results) -> str:
    """Per model: texts/s per engine, cosine to fp32, recall@1, the build precast made."""
    data = r["engines"]
    out = [f"Measured {str(data.get('at', '?'))[:10]}:"]
    for key, block in engine_models(data).items():
        res = block["results"]
        ours = next(n for n in res if n.startswith("precast"))
        long = block.get("long_texts")
        real = block.get("fp32_recall_at_1") is not None
        heads = [f"{block.get('pairs')} docs"]
        if long:
            heads.append(f"{long} texts × {block.get('max_tokens')} tokens")
        out += ["", f"**{key}**: {block.get('model', key)}", ""]
        cols = [f"texts/s, {h}" for h in heads] + ["cosine to fp32 mean / min"]
        cols += ["recall@1"] if real else []
        cols += [f"precast ÷ engine ({'long texts' if long else 'docs'})"]
        out.append(f"| engine | {' | '.join(cols)} |")
        out.append("|---" * (len(cols) + 1) + "|")
        speed = "long_texts_per_s" if long else "texts_per_s"
        for name, row in res.items():
            cells = [_f(row.get("texts_per_s"), ",.1f")]
            if long:
                cells.append(_f(row.get("long_texts_per_s"), ",.1f"))
            cells.append(
                f"{_f(row.get('mean_cosine_to_fp32'), '.4f')} / "
                f"{_f(row.get('min_cosine_to_fp32'), '.4f')}"
            )
            if real:
                cells.append(_f(row.get("recall_at_1"), ".4f"))
            ratio = res[ours][speed] / row[speed] if name != ours else None
            cells.append("-" if ratio is None else f"{ratio:.2f}×")
            out.append(f"| {name} | {' | '.join(cells)} |")
        fastest, ratios = block.get("fastest_peer", {}), block.get("precast_over_fastest_peer", {})
        shown = [
            f"{kind}: {fastest[kind]}, precast at {ratios[kind]:.2f}×"
            for kind in ("docs", "long")
            if fastest.get(kind) and ratios.get(kind) is not None
        ]
        out += ["", f"Fastest peer with {block.get('rule')}: {'; '.join(shown) or '-'}."]
        build = block.get("build") or {}
        if "minutes" in build:
            out.append(
                f"precast's artifact: `precast models add` defaults, `precast optimize` "
                f"{build['minutes']:.1f} min, peak RSS {build['peak_rss_gib']:.2f} GiB, "
                f"recipe {build.get('recipe')} ({build.get('reason')})."
            )
        elif build:
            out.append(f"precast's artifact: reused, recipe {build.get('recipe')}.")
        facts = block.get("engines") or data.get("engines") or {}
        if facts:
            out.append(
                "Installed size, cold start (import, open the fp32 ONNX, one text): "
                + "; ".join(
                    f"{e} {f['installed_mb']:.0f} MB, {f['cold_start_s']:.2f} s"
                    for e, f in facts.items()
                )
                + "."
            )
    return "\n".join(out)


def headline_ratios(r: Results) -> str:
    """README's table: precast over its peers, each ratio > 1× in precast's favour (rates:
    precast ÷ peer; times: peer ÷ precast), with precast's own figure and the target."""
    rows: list[tuple[str, float, str, str]] = []
    if "throughput" in r:
        t = r["throughput"]
        ours = next(k for k in t["results"] if k.endswith("(per-text, batch-invariant)"))
        rate = t["results"][ours]["texts_per_s"]
        peer = t["results"]["sentence-transformers torch fp32"]["texts_per_s"]
        rows.append((f"throughput, {t['texts']:,} docstrings, vs sentence-transformers fp32",
                     rate / peer, f"{rate:,.0f} texts/s", "≥ 2.5×"))  # fmt: skip
    for block in (engine_models(r["engines"]) if "engines" in r else {}).values():
        res, fastest = block["results"], (block.get("fastest_peer") or {}).get("docs")
        if not fastest:
            continue
        ours = next(v for k, v in res.items() if k.startswith("precast"))
        model = str(block.get("model", "")).split(" (")[0].removeprefix("sample ")
        rows.append((f"throughput, {model}, vs the fastest accurate engine ({fastest})",
                     ours["texts_per_s"] / res[fastest]["texts_per_s"],
                     f"{ours['texts_per_s']:,.0f} texts/s", "≥ 1.2×"))  # fmt: skip
    if "edge" in r:
        cold = "cold_start.edge_artifact_dir.median_s"
        ours, st = lookup(r, "edge", cold), lookup(r, "edge", "cold_start.st_fp32.median_s")
        rows.append(("edge cold load → first prediction, vs sentence-transformers fp32",
                     st / ours, f"{ours:.2f} s", "≤ 0.3 s"))  # fmt: skip
    if "functions" in r:
        ours = lookup(r, "functions", "cold_start.precast_asset.median_s")
        st = lookup(r, "functions", "cold_start.sentence_transformers.median_s")
        rows.append(("Lambda handler cold start, vs sentence-transformers", st / ours,
                     f"{ours:.2f} s", "≤ 0.6 s"))  # fmt: skip
        ours = lookup(r, "functions", "warm_handler.precast_1_inputs_miss.p50_ms")
        st = lookup(r, "functions", "warm_handler.st_fp32_1_inputs.p50_ms")
        rows.append(("warm request, 1 text, p50, vs sentence-transformers fp32", st / ours,
                     f"{ours:.1f} ms", ""))  # fmt: skip
    if "batch" in r:
        ours = lookup(r, "batch", "results.pipeline_texts_per_s")
        bare = lookup(r, "batch", "results.bare_edge_texts_per_s")
        overhead = lookup(r, "batch", "results.pipeline_overhead")
        rows.append(("batch job, vs the bare edge runtime it wraps", ours / bare,
                     f"{overhead:+.1%} overhead", "≤ +10% overhead"))  # fmt: skip
    out = ["| measure | precast ÷ peer | precast | target |", "|---|---|---|---|"]
    out += [f"| {m} | {ratio:.2f}× | {ours} | {target} |" for m, ratio, ours, target in rows]
    return "\n".join(out)


SIDES = ("before", "after")
TABLES: dict[str, Callable[[Results], str]] = {
    "edge": edge_table,
    "functions": functions_table,
    "load": load_table,
    "engines": engines_table,
    "ratios": headline_ratios,
}


def render_doc(text: str, results: Results) -> str:
    """``text`` with every bench value and table re-rendered from ``results``."""

    def value(m: re.Match[str]) -> str:
        stem, path, spec = m.group(1), m.group(2), m.group(3)
        shown = format_value(lookup(results, stem, path), spec)
        return f"<!--bench:{stem}:{path}{':' + spec if spec else ''}-->{shown}<!--/bench-->"

    def table(m: re.Match[str]) -> str:
        name = m.group(2)
        if name not in TABLES:
            raise KeyError(f"no bench table {name!r}; known: {', '.join(TABLES)}")
        return f"{m.group(1)}{TABLES[name](results)}\n{m.group(4)}"

    return TABLE.sub(table, VALUE.sub(value, text))


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def stale(docs: list[Path] = DOCS, results: Results | None = None) -> list[str]:
    """Where a doc shows a number its results file does not say: ``path:line: shown -> now``."""
    results = load_results() if results is None else results
    problems = []
    for path in docs:
        text = path.read_text(encoding="utf-8")
        rendered = render_doc(text, results)
        if rendered != text:
            old, new = text.splitlines(), rendered.splitlines()
            for i, (a, b) in enumerate(zip(old, new, strict=False), 1):
                if a != b:
                    problems.append(f"{_shown(path)}:{i}: {a.strip()} -> {b.strip()}")
                    break
            else:
                problems.append(f"{_shown(path)}: block length changed")
    return problems


def write(docs: list[Path] = DOCS, results: Results | None = None) -> list[Path]:
    results = load_results() if results is None else results
    changed = []
    for path in docs:
        text = path.read_text(encoding="utf-8")
        rendered = render_doc(text, results)
        if rendered != text:
            path.write_text(rendered, encoding="utf-8")
            changed.append(path)
    return changed

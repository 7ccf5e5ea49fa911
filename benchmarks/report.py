"""Render benchmarks/results/*.json as docs/benchmarks.md's benchmark section.

.venv/bin/python -m benchmarks.report            # print markdown
.venv/bin/python -m benchmarks.report --write    # re-render every number in README.md + docs/
.venv/bin/python -m benchmarks.report --check    # list the numbers that disagree (exit 1)

``--write`` replaces docs/benchmarks.md's ``<!-- bench:start -->`` block and every bench value
and table of README.md and docs/*.md (``benchmarks/doc_numbers.py``), and redraws README's
chart, docs/img/benchmarks.svg (``benchmarks/chart.py``); tests/docs/test_docs_numbers.py
fails while any of them disagrees with benchmarks/results/*.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# the page whose <!-- bench:start --> ... <!-- bench:end --> block is render()
PAGE = HERE.parent / "docs" / "benchmarks.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"
    return str(v).replace("\n", "<br>")  # a multi-line value stays one table row


def _flatten(prefix: str, value: Any, rows: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix} / {k}" if prefix else str(k), v, rows)
    elif isinstance(value, list):
        rows.append((prefix, ", ".join(_fmt(v) for v in value[:8])))
    else:
        rows.append((prefix, _fmt(value)))


def _get(data: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _num(value: Any, unit: str = "", digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}{unit}"


def _ratio(a: Any, b: Any) -> str:
    return "-" if a is None or not b else f"{a / b:.2f}×"


Row = tuple[str, str, str, str, str]


def _throughput_rows(t: dict[str, Any], rows: list[Row]) -> None:
    if True:
        r = t["results"]
        ours: dict[str, Any] = next(
            (v for k, v in r.items() if k.endswith(("(per-text, batch-invariant)", "(bucketed)"))),
            {},
        )
        before = next((v for k, v in r.items() if "before batch invariance" in k), None)
        fp32 = r.get("sentence-transformers torch fp32", {})
        bf16 = r.get("sentence-transformers torch bf16", {})
        q_name = next((k for k in r if k.startswith("sentence-transformers onnx")), "")
        qint8 = r.get(q_name, {})
        q_label = (
            "ST " + q_name.removeprefix("sentence-transformers ") if q_name else "ST onnx int8"
        )
        n = t.get("texts")
        for peer, label in ((fp32, "ST fp32"), (bf16, "ST bf16"), (qint8, q_label)):
            rows.append(
                (
                    f"throughput, {n} docstrings (texts/s) vs {label}",
                    _num(ours.get("texts_per_s")),
                    _num(peer.get("texts_per_s")),
                    _ratio(ours.get("texts_per_s"), peer.get("texts_per_s")),
                    "≥ 2.5× (VNNI machine)" if label == "ST fp32" else "",
                )
            )
        if before:
            rows.append(
                (
                    f"throughput, {n} docstrings (texts/s): per-text vs bucketed (before)",
                    _num(ours.get("texts_per_s")),
                    _num(before.get("texts_per_s")),
                    _ratio(ours.get("texts_per_s"), before.get("texts_per_s")),
                    "≥ 1× (batch invariance for free)",
                )
            )


def _edge_rows(e: dict[str, Any], rows: list[Row]) -> None:
    if True:
        rows.append(
            (
                "edge bundle size (MB)",
                _num(_get(e, "bundle_size", "bundle_mb")),
                "",
                "",
                "≤ 25 MB",
            )
        )
        cold = _get(e, "cold_start", "edge_artifact_dir", "median_s")
        cold_bundle = _get(e, "cold_start", "edge_bundle_reused", "median_s")
        st = _get(e, "cold_start", "st_fp32", "median_s")
        rows.append(("edge cold load → first prediction, artifact dir (s)", _num(cold, "", 2),
                     _num(st, "", 2), _ratio(st, cold), "≤ 0.3 s"))  # fmt: skip
        rows.append(("edge cold load → first prediction, bundle (s)", _num(cold_bundle, "", 2),
                     _num(st, "", 2), _ratio(st, cold_bundle), "≤ 0.3 s"))  # fmt: skip
        for q in ("p50_ms", "p99_ms"):
            ours = _get(e, "warm_single_text_latency", "edge", q)
            peer = _get(e, "warm_single_text_latency", "st_fp32", q)
            rows.append((f"edge warm single text {q[:3]} (ms) vs ST fp32", _num(ours),
                         _num(peer), _ratio(peer, ours), ""))  # fmt: skip


def _functions_rows(f: dict[str, Any], rows: list[Row]) -> None:
    if True:
        cold = _get(f, "cold_start", "precast_asset", "median_s")
        st = _get(f, "cold_start", "sentence_transformers", "median_s")
        rows.append(("Lambda handler cold start, fresh process → 1 event (s)", _num(cold, "", 2),
                     _num(st, "", 2), _ratio(st, cold), "≤ 0.6 s and ≤ 1/5 of ST"))  # fmt: skip
        for arch in ("x86_64", "arm64"):
            rows.append((f"Lambda asset unzipped, {arch} (MB)",
                         _num(_get(f, "lambda_asset", arch, "unzipped_mb")), "", "",
                         "≤ 150 MB"))  # fmt: skip
        w = f.get("warm_handler", {})
        for key, peer, label in (
            ("precast_1_inputs_miss", "st_fp32_1_inputs", "warm request, 1 input"),
            ("precast_32_inputs_miss", "st_fp32_32_inputs", "warm request, 32 inputs"),
        ):
            for q in ("p50_ms", "p99_ms"):
                ours, theirs = _get(w, key, q), _get(w, peer, q)
                rows.append((f"{label} {q[:3]} (ms) vs ST fp32", _num(ours), _num(theirs),
                             _ratio(theirs, ours), ""))  # fmt: skip
        rows.append(("warm request, 1 input, cache hit p50 (ms)",
                     _num(_get(w, "precast_1_input_cache_hit", "p50_ms")), "", "", ""))  # fmt: skip
        mb = _get(f, "server_32_clients", "micro_batch", "requests_per_s")
        plain = _get(f, "server_32_clients", "no_micro_batch", "requests_per_s")
        rows.append(("local server, 32 clients (req/s): micro-batch vs not", _num(mb),
                     _num(plain), _ratio(mb, plain), ""))  # fmt: skip


def _batch_rows(b: dict[str, Any], rows: list[Row]) -> None:
    if True:
        r = b["results"]
        overhead = r.get("pipeline_overhead")
        ours = r.get("pipeline_texts_per_s")
        rows.append(("batch job vs bare edge runtime (texts/s)", _num(ours),
                     _num(r.get("bare_edge_texts_per_s")),
                     "-" if overhead is None else f"{overhead:+.1%} overhead",
                     "≤ +10% overhead"))  # fmt: skip
        for key, label in (("st_fp32_texts_per_s", "ST fp32"), ("st_bf16_texts_per_s", "ST bf16")):
            rows.append((f"batch job vs {label} (texts/s)", _num(r.get("pipeline_texts_per_s")),
                         _num(r.get(key)), _ratio(r.get("pipeline_texts_per_s"), r.get(key)),
                         ""))  # fmt: skip
        mem = r.get("memory") or {}
        if mem:
            rows.append((f"batch memory, {mem.get('records'):,} records: RSS growth after 10% (MB)",
                         _num(mem.get("rss_growth_mb")), "", "",
                         f"flat (≤ {mem.get('max_growth_mb')} MB)"))  # fmt: skip


def _load_rows(d: dict[str, Any], rows: list[Row]) -> None:
    after, before = d.get("after", {}), d.get("before", {})
    c = d.get("config", {})
    load = f"{c.get('clients')} clients, {c.get('hit_ratio', 0):.0%} hits"
    peer = f" vs {before.get('ref', '')[:7]} (before)" if before else ""
    for kind, label, target in (("hits", "hit", "p99 ≤ 10 ms"), ("misses", "miss", "")):
        for q in ("p50_ms", "p99_ms"):
            ours, theirs = _get(after, kind, q), _get(before, kind, q)
            rows.append((f"local server, {load}: {label} {q[:3]} (ms){peer}", _num(ours),
                         _num(theirs), _ratio(theirs, ours),
                         target if q == "p99_ms" else ""))  # fmt: skip
    rows.append((f"local server, {load}: requests/s{peer}", _num(after.get("requests_per_s")),
                 _num(before.get("requests_per_s")),
                 _ratio(after.get("requests_per_s"), before.get("requests_per_s")),
                 f"no errors (got {after.get('errors')})"))  # fmt: skip
    rows.append((f"local server, {load}: RSS growth over the run (MB){peer}",
                 _num(_get(after, "rss_mb", "growth")), _num(_get(before, "rss_mb", "growth")),
                 "", "flat"))  # fmt: skip


def _engines_rows(e: dict[str, Any], rows: list[Row]) -> None:
    from benchmarks.doc_numbers import engine_models

    for key, block in engine_models(e).items():
        r = block["results"]
        ours_name = next(k for k in r if k.startswith("precast"))
        ours = r[ours_name]
        fastest = block.get("fastest_peer") or {}
        sets = [("docs", "texts_per_s", f"{block.get('pairs')} docs")]
        if block.get("long_texts"):
            label = f"{block['long_texts']} texts × {block.get('max_tokens')} tokens"
            sets.append(("long", "long_texts_per_s", label))
        for name, peer in r.items():
            if name == ours_name:
                continue
            if "recall_at_1" in peer and "recall_at_1" in ours:
                acc = f"recall@1 {ours['recall_at_1']:.3f} vs {peer['recall_at_1']:.3f}"
            else:
                acc = f"mean cos {peer.get('mean_cosine_to_fp32', 0):.4f} to fp32"
            for kind, field, label in sets:
                rows.append((f"engines, {key}, {label} (texts/s) vs {name}; {acc}",
                             _num(ours.get(field)), _num(peer.get(field)),
                             _ratio(ours.get(field), peer.get(field)),
                             f"≥ 1.2× the fastest peer with {block.get('rule')}"
                             if name == fastest.get(kind) else ""))  # fmt: skip


ROWS = {
    "throughput": _throughput_rows,
    "engines": _engines_rows,
    "edge": _edge_rows,
    "functions": _functions_rows,
    "batch": _batch_rows,
    "load": _load_rows,
}


def headline(results: dict[str, dict[str, Any]]) -> list[str]:
    """One row per target in the issues: our number, the peer's, the ratio, the target."""
    rows: list[Row] = []
    for name, add in ROWS.items():
        if name in results:
            add(results[name], rows)
    if not rows:
        return []
    out = ["| measure | precast | peer | ratio | target |", "|---|---|---|---|---|"]
    out += [f"| {' | '.join(row)} |" for row in rows]
    return out


# the command that writes each results file, when it is not benchmarks/bench_<name>.py
WRITTEN_BY = {"arm64": "make certify-arm64"}


def _machine(data: dict[str, Any]) -> dict[str, Any]:
    """The machine a results file was measured on (arm64.json names it ``measured_on``)."""
    return dict(data.get("machine") or data.get("measured_on") or {})


def render() -> str:
    out: list[str] = []
    paths = sorted((HERE / "results").glob("*.json"))
    loaded = {p.stem: json.loads(p.read_text()) for p in paths}
    machines = {json.dumps(_machine(d), sort_keys=True) for d in loaded.values()}
    if loaded:
        # the machine of the first results file the headline table reads
        m = next((_machine(loaded[n]) for n in ROWS if n in loaded and _machine(loaded[n])), {})
        same = "all on one machine" if len(machines) == 1 else "machines differ, see below"
        out.append(
            f"Headline ({same}: {m.get('cpu')}, {m.get('cores')} cores, ISA "
            f"{' '.join(m.get('isa', [])) or '-'}; int8 dot product "
            f"{m.get('int8_dot_product')}, native bf16 {m.get('native_bf16')}). "
            "Ratios are peer ÷ precast for times, precast ÷ peer for rates: > 1× favours precast.\n"
        )
        out.extend(headline(loaded))
        out.append("\nEvery number each benchmark wrote:\n")
    for path in paths:
        data = json.loads(path.read_text())
        m = _machine(data)
        command = WRITTEN_BY.get(path.stem, f"python -m benchmarks.bench_{path.stem}")
        out.append(
            f"#### {data.get('benchmark', path.stem)} (`{command}`, {data.get('at', '?')})\n"
        )
        if m:
            out.append(
                f"Machine: {m.get('cpu')} ({m.get('machine')}, {m.get('cores', '?')} cores), "
                f"ISA: {' '.join(m.get('isa', [])) or '-'}\n"
            )
        rows: list[tuple[str, str]] = []
        for key, value in data.items():
            if key in ("benchmark", "at", "machine", "measured_on", "command"):
                continue
            _flatten(key, value, rows)
        out.append("<details><summary>table</summary>\n")
        out.append("| measure | value |\n|---|---|")
        out.extend(f"| {k} | {v} |" for k, v in rows)
        out.append("\n</details>\n")
    return "\n".join(out)


def render_page(page: str, text: str | None = None) -> str:
    """docs/benchmarks.md (``page``) with its benchmark section replaced by ``render()``."""
    if START not in page or END not in page:
        raise SystemExit(f"{PAGE.relative_to(HERE.parent)} lacks the {START} ... {END} markers")
    head, rest = page.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{render() if text is None else text}\n{END}{tail}"


def main() -> None:
    from benchmarks import chart, doc_numbers

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--write", action="store_true", help="rewrite README.md + docs/")
    ap.add_argument("--check", action="store_true", help="exit 1 if a doc number is stale")
    args = ap.parse_args()
    if args.check:
        page = PAGE.read_text(encoding="utf-8")
        problems = doc_numbers.stale()
        if chart.stale(doc_numbers.load_results()):
            problems.append(f"{chart.SVG.relative_to(HERE.parent)} differs from the results")
        if render_page(page) != page:
            problems.append(
                f"{PAGE.relative_to(HERE.parent)}: the bench:start block differs from the results"
            )
        print("\n".join(problems) or "every number in the docs matches benchmarks/results/")
        raise SystemExit(1 if problems else 0)
    if not args.write:
        print(render())
        return
    PAGE.write_text(render_page(PAGE.read_text(encoding="utf-8")), encoding="utf-8")
    changed: list[Path] = doc_numbers.write()
    if chart.write(doc_numbers.load_results()):
        changed.append(chart.SVG)
    print("rendered the benchmark numbers of README.md and docs/; changed:", changed or "none")


if __name__ == "__main__":
    main()

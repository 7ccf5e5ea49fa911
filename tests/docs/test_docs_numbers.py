"""Every benchmark number the docs show is the one benchmarks/results/*.json holds."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from docs_support import REPO

from benchmarks import chart, doc_numbers, report


def test_the_benchmarks_page_section_is_the_rendering_of_the_results() -> None:
    """GIVEN docs/benchmarks.md and benchmarks/results/*.json WHEN the section between the
    bench markers is re-rendered THEN nothing changes (regenerate: `python -m
    benchmarks.report --write`)."""
    assert report.PAGE == REPO / "docs" / "benchmarks.md"
    page = report.PAGE.read_text(encoding="utf-8")
    assert report.render_page(page) == page, "run: python -m benchmarks.report --write"


def test_every_marked_number_in_the_docs_matches_the_results() -> None:
    """GIVEN every bench value and bench table in README.md and docs/*.md WHEN rendered from
    the results THEN each shows what the results say (regenerate as above)."""
    assert doc_numbers.stale() == [], "run: python -m benchmarks.report --write"
    marked = sum(
        len(doc_numbers.VALUE.findall(p.read_text(encoding="utf-8"))) for p in doc_numbers.DOCS
    )
    tables = sum(
        len(doc_numbers.TABLE.findall(p.read_text(encoding="utf-8"))) for p in doc_numbers.DOCS
    )
    assert marked >= 20 and tables >= 3, (marked, tables)


def test_a_new_benchmark_run_makes_the_docs_stale_until_rewritten(tmp_path: Path) -> None:
    """GIVEN copies of the docs and of the results WHEN one result changes (a new run)
    THEN the check names the doc line that now disagrees, and --write's rendering fixes it."""
    results = tmp_path / "results"
    shutil.copytree(REPO / "benchmarks" / "results", results)
    edge = json.loads((results / "edge.json").read_text())
    edge["bundle_size"]["bundle_mb"] = 99.9
    edge["cold_start"]["edge_artifact_dir"]["median_s"] = 9.87  # README's ratios table
    (results / "edge.json").write_text(json.dumps(edge))
    docs = [shutil.copy(p, tmp_path / p.name) for p in doc_numbers.DOCS]
    paths = [Path(p) for p in docs]
    loaded = doc_numbers.load_results(results)

    problems = doc_numbers.stale(paths, loaded)
    assert any("99.9" in p and "edge.md" in p for p in problems), problems
    assert any("9.87 s" in p and "README.md" in p for p in problems), problems

    doc_numbers.write(paths, loaded)
    assert doc_numbers.stale(paths, loaded) == []
    assert "99.9 MB" in (tmp_path / "edge.md").read_text(encoding="utf-8")


def test_a_hand_edited_number_is_caught(tmp_path: Path) -> None:
    """GIVEN a doc whose marked number was typed over by hand WHEN checked THEN reported."""
    doc = tmp_path / "edge.md"
    text = (REPO / "docs" / "edge.md").read_text(encoding="utf-8")
    shown = doc_numbers.VALUE.search(text)
    assert shown
    doc.write_text(text.replace(shown.group(0), shown.group(0).replace(shown.group(4), "1234")))
    assert doc_numbers.stale([doc]) != []


def test_the_readme_chart_is_the_rendering_of_the_results() -> None:
    """GIVEN docs/img/benchmarks.svg, embedded in README.md WHEN the chart is re-rendered
    from benchmarks/results/*.json THEN nothing changes (regenerate: `python -m
    benchmarks.report --write`), and it is well-formed SVG."""
    assert chart.SVG == REPO / "docs" / "img" / "benchmarks.svg"
    assert "](docs/img/benchmarks.svg)" in (REPO / "README.md").read_text(encoding="utf-8")
    results = doc_numbers.load_results()
    assert not chart.stale(results), "run: python -m benchmarks.report --write"
    root = ET.fromstring(chart.SVG.read_text(encoding="utf-8"))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"


def test_the_chart_draws_one_bar_per_peer_with_precasts_ratio(tmp_path: Path) -> None:
    """GIVEN the results WHEN the chart is drawn THEN each peer of throughput.json and of each
    engines.json model is one bar labelled with precast's texts/s over the peer's; a new run
    makes the committed chart stale until rewritten."""
    results = doc_numbers.load_results()
    svg = chart.render_svg(results)
    drawn = chart.groups(results)
    bars = [b for g in drawn for b in g.bars]
    assert svg.count("<rect x=") == len(bars)
    st = next(b for b in drawn[0].bars if b.peer == "ST torch fp32")
    assert st.ratio == pytest.approx(results["throughput"]["speedup_vs_st_fp32"])
    assert f"{st.ratio:.2f}×" in svg
    engines = doc_numbers.engine_models(results["engines"])
    assert len(drawn) == 1 + len(engines)

    copy = tmp_path / "benchmarks.svg"
    assert chart.write(results, copy) and not chart.stale(results, copy)
    results["throughput"]["results"]["sentence-transformers torch fp32"]["texts_per_s"] *= 2
    assert chart.stale(results, copy)

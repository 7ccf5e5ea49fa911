"""Every benchmark number the docs show is the one benchmarks/results/*.json holds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from docs_support import REPO

from benchmarks import doc_numbers, report


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
    (results / "edge.json").write_text(json.dumps(edge))
    docs = [shutil.copy(p, tmp_path / p.name) for p in doc_numbers.DOCS]
    paths = [Path(p) for p in docs]
    loaded = doc_numbers.load_results(results)

    problems = doc_numbers.stale(paths, loaded)
    assert any("99.9" in p and "edge.md" in p for p in problems), problems
    assert any("99.9" in p and "README.md" in p for p in problems), problems

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

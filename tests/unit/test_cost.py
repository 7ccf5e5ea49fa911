"""``precast cost``: the arithmetic on a fixture results directory, provenance, errors, docs.

The fixture results have round numbers (100 texts/s live, 2 ms a cached request, 0.5 s
init, 50 ms restore, 200 texts/s batch), so each expected cost is written out from the
formula in precast/project/cost_model.py with the list prices of precast/project/pricing.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from precast.cli import main
from precast.project import pricing
from precast.project.cost_model import Deployment, Traffic, estimate, lambda_row
from precast.project.exceptions import CostInputError
from precast.project.measurements import load_measurements

REPO = Path(__file__).resolve().parents[2]
MACHINE = {"cpu": "Test CPU", "cores": 2}
AT = "2026-12-01T10:00:00+00:00"
GB = 2.0  # 2048 MB
ARM = pricing.LAMBDA_GB_SECOND_USD["arm64"]


@pytest.fixture
def results(tmp_path: Path) -> Path:
    files = {
        "functions": {
            "warm_handler": {
                "precast_32_inputs_miss": {"p50_ms": 320.0},  # 100 texts/s
                "precast_1_input_cache_hit": {"p50_ms": 2.0},
            }
        },
        "snapstart": {"cold_start_s": 0.5, "restored_start_s": 0.05},
        "batch": {"results": {"pipeline_incl_model_load_texts_per_s": 200.0}},
    }
    for stem, body in files.items():
        payload = {"benchmark": stem, "at": AT, "machine": MACHINE, **body}
        (tmp_path / f"{stem}.json").write_text(json.dumps(payload), encoding="utf-8")
    return tmp_path


def _batch_per_million() -> float:
    hours = 1_000_000 / 200 / 3600
    return hours * (2 * pricing.FARGATE_VCPU_HOUR_USD + 4 * pricing.FARGATE_GB_HOUR_USD) * 0.3


def test_lambda_hybrid_row_is_the_formula(results: Path) -> None:
    """GIVEN 10 req/s of 1 text, half cached, steady traffic WHEN estimated THEN a request
    lasts 2 ms + 0.5 x 10 ms = 7 ms (billed 7 ms at 2 GB), one environment restored once an
    hour (27.8 restores per 1M), DynamoDB reads every text and writes every miss, and the
    hits cost their batch precompute."""
    m = load_measurements(results)
    traffic = Traffic(rps=10, hit_ratio=0.5)
    row = lambda_row(traffic, Deployment(), m, snapstart=True)
    requests = 1_000_000
    compute = requests * 0.007 * GB * ARM
    fees = requests * 0.20 / 1e6
    restores = 1 / 36_000 * 1e6  # one per hour over 36,000 texts per hour
    each = 0.05 * GB * ARM + pricing.LAMBDA_SNAPSTART_RESTORE_GB_USD * GB
    snapshot = GB * pricing.LAMBDA_SNAPSTART_CACHE_GB_SECOND_USD * 3600 / 36_000 * 1e6
    dynamo = 1e6 * (0.5 * 0.125e-6 + 0.5 * 2 * 0.625e-6)  # 1,736 B item: 2 write units
    precompute = 0.5 * _batch_per_million()
    cold = restores * each + snapshot
    total = compute + fees + cold + dynamo + precompute
    assert row.usd_per_million == pytest.approx(total)
    assert row.cold_start_share == pytest.approx(cold / total)
    assert any("7.0 ms/request" in a for a in row.assumptions)


def test_without_snapstart_a_cold_start_bills_its_init(results: Path) -> None:
    """GIVEN the same traffic WHEN SnapStart is off THEN each cold start bills 0.5 s of init
    at 2 GB instead of the restore charges, and nothing is cached per GB-s."""
    m = load_measurements(results)
    traffic = Traffic(rps=10, hit_ratio=0.5)
    on = lambda_row(traffic, Deployment(), m, snapstart=True)
    off = lambda_row(traffic, Deployment(), m, snapstart=False)
    restores = 1e6 / 36_000
    cold_off = restores * 0.5 * GB * ARM
    cold_on = (
        restores * (0.05 * GB * ARM + pricing.LAMBDA_SNAPSTART_RESTORE_GB_USD * GB)
        + GB * pricing.LAMBDA_SNAPSTART_CACHE_GB_SECOND_USD * 3600 / 36_000 * 1e6
    )
    assert on.usd_per_million is not None and off.usd_per_million is not None
    assert on.usd_per_million - off.usd_per_million == pytest.approx(cold_on - cold_off)


def test_bursts_add_cold_starts_and_batching_cuts_requests(results: Path) -> None:
    """GIVEN 100 req/s of 8 texts, nothing cached, bursts of 4x twice an hour WHEN estimated
    THEN a request lasts 2 + 80 ms (billed 82 ms), ceil(100 x 0.082) = 9 environments, 33
    at peak: 2 x 24 + 9 cold starts an hour over 2.88M texts; 125,000 requests per 1M."""
    m = load_measurements(results)
    traffic = Traffic(rps=100, texts_per_request=8, burstiness=4, bursts_per_hour=2)
    row = lambda_row(traffic, Deployment(), m, snapstart=False, cache=False)
    colds = (2 * (33 - 9) + 9) / (100 * 8 * 3600) * 1e6
    expected = 125_000 * (0.082 * GB * ARM + 0.2e-6) + colds * 0.5 * GB * ARM
    assert row.usd_per_million == pytest.approx(expected)
    assert any("9 environment(s), 33 at peak" in a for a in row.assumptions)


def test_report_rows_saving_and_modal_utilization(results: Path) -> None:
    """GIVEN the fixture WHEN the whole report is estimated THEN the hybrid saving is the
    live-only Lambda row minus the hybrid one, Modal CPU bills busy seconds over 1/burstiness,
    the GPU row says it is not measured, and batch is the Fargate Spot formula."""
    m = load_measurements(results)
    traffic = Traffic(rps=10, hit_ratio=0.5, burstiness=2)
    report = estimate(traffic, Deployment(), m)
    hybrid, _, live, modal_cpu, gpu, batch = report.rows
    assert hybrid.usd_per_million is not None and live.usd_per_million is not None
    assert report.hybrid_saving_usd == pytest.approx(live.usd_per_million - hybrid.usd_per_million)
    busy = 1e6 * (0.002 + 0.5 / 100)
    per_s = pricing.MODAL_CPU_CORE_SECOND_USD + 2 * pricing.MODAL_MEMORY_GIB_SECOND_USD
    assert modal_cpu.usd_per_million == pytest.approx(busy * 2 * per_s)
    assert gpu.usd_per_million is None and "bench_gpu.py" in gpu.assumptions[0]
    assert batch.usd_per_million == pytest.approx(_batch_per_million())


def test_a_measured_gpu_prices_the_misses(results: Path) -> None:
    """GIVEN a gpu.json with 2,000 texts/s WHEN estimated at half hits, steady THEN the GPU
    row is half of Modal's price for 1M texts at that speed."""
    (results / "gpu.json").write_text(
        json.dumps({"at": AT, "gpu": "T4", "results": {"texts_per_s": 2000.0}}), encoding="utf-8"
    )
    report = estimate(Traffic(rps=10, hit_ratio=0.5), Deployment(), load_measurements(results))
    per_s = (
        pricing.MODAL_GPU_SECOND_USD["T4"]
        + pricing.MODAL_CPU_CORE_SECOND_USD
        + 2 * pricing.MODAL_MEMORY_GIB_SECOND_USD
    )
    assert report.rows[4].usd_per_million == pytest.approx(0.5 * 500 * per_s)


def test_another_gpus_speed_never_prices_the_deployed_one(results: Path) -> None:
    """GIVEN a gpu.json measured on an H200 WHEN the deployment is Modal T4 THEN the GPU row
    has no price and says which GPU was measured and what to run."""
    (results / "gpu.json").write_text(
        json.dumps({"at": AT, "gpu": "NVIDIA H200", "results": {"texts_per_s": 14000.0}}),
        encoding="utf-8",
    )
    report = estimate(Traffic(rps=10, hit_ratio=0.5), Deployment(), load_measurements(results))
    row = report.rows[4]
    assert row.usd_per_million is None
    assert "not measured on a T4" in row.assumptions[0] and "NVIDIA H200" in row.assumptions[0]


def test_missing_or_bad_results_name_the_benchmark(results: Path) -> None:
    """GIVEN a results dir without snapstart.json, or with a zero throughput WHEN loaded THEN
    the error names the file or key and the command that writes it."""
    (results / "snapstart.json").unlink()
    with pytest.raises(CostInputError, match=r"snapstart\.json is missing.*bench_snapstart"):
        load_measurements(results)
    (results / "snapstart.json").write_text('{"cold_start_s": 0}', encoding="utf-8")
    with pytest.raises(CostInputError, match="cold_start_s = 0 is not a positive number"):
        load_measurements(results)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rps": 0}, "rps must be > 0"),
        ({"rps": 1, "hit_ratio": 1.5}, r"hit_ratio must be in \[0, 1\]"),
        ({"rps": 1, "burstiness": 0.5}, "burstiness"),
        ({"rps": 1, "texts_per_request": 0}, "texts_per_request"),
    ],
)
def test_bad_traffic_says_what_is_allowed(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Traffic(**kwargs)  # type: ignore[arg-type]


def test_cli_prints_the_table_with_each_input_file_and_date(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """GIVEN the repo's committed results WHEN `precast cost --rps 20 --hit-ratio 0.6` THEN a
    table per host, the hybrid saving, and every measured input with its file and date."""
    config = str(REPO / "precast.toml")
    assert main(["--config", config, "cost", "--rps", "20", "--hit-ratio", "0.6"]) == 0
    out = capsys.readouterr().out
    assert "| Lambda arm64 2048 MB, SnapStart, hit ratio 0.60 |" in out
    assert "Hybrid saving from cache hits" in out
    for stem in ("functions", "snapstart", "batch"):
        at = json.loads((REPO / "benchmarks" / "results" / f"{stem}.json").read_text())["at"]
        assert f"{stem}.json {at[:10]}" in out


def test_cli_refuses_a_bad_hit_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    config = str(REPO / "precast.toml")
    assert main(["--config", config, "cost", "--rps", "20", "--hit-ratio", "1.5"]) == 1
    assert "hit_ratio must be in [0, 1], got 1.5" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--rps", "20", "--hit-ratio", "0.6"],
        [
            "--rps",
            "200",
            "--texts-per-request",
            "8",
            "--hit-ratio",
            "0.9",
            "--burstiness",
            "4",
            "--bursts-per-hour",
            "6",
        ],
    ],  # fmt: skip
)
def test_docs_cost_tables_are_the_generated_ones(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/deploy.md shows exactly what `precast cost ... --markdown` prints for both shapes."""
    assert main(["--config", str(REPO / "precast.toml"), "cost", *argv, "--markdown"]) == 0
    table = capsys.readouterr().out.strip()
    assert table in (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")

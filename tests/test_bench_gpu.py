"""benchmarks/bench_gpu.py's steps, smoke-tested on the CPU (no GPU on this machine).

GIVEN the sample artifact and only the CPU provider, WHEN the GPU benchmark runs with
``--allow-cpu`` into a private file, THEN it reports texts/s, single-text p50/p99 and the
node placement from ONNX Runtime's profile: every node on the CPU, none on CUDA. On a GPU
machine the same code writes benchmarks/results/gpu.json, which `precast cost` reads.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from benchmarks import bench_gpu


def test_cpu_smoke_run_reports_speed_latency_and_placement(
    sample_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "gpu-smoke.json"
    argv = ["bench_gpu", "--artifact", str(sample_artifact), "--texts", "24", "--allow-cpu"]
    monkeypatch.setattr(sys, "argv", [*argv, "--out", str(out)])
    bench_gpu.main()
    result = json.loads(out.read_text(encoding="utf-8"))["results"]
    assert result["texts"] == 24 and result["texts_per_s"] > 0
    assert result["single_text"]["n"] == 24
    assert result["single_text"]["p99_ms"] >= result["single_text"]["p50_ms"]
    # on CPU the chosen variant is the CPU default itself: the same vectors
    assert result["cosine_to_cpu_default"]["texts"] == 24
    assert result["cosine_to_cpu_default"]["min"] > 0.9999
    placement = result["placement"]
    assert placement["providers"] == ["CPUExecutionProvider"]
    assert set(placement["node_runs"]) == {"CPUExecutionProvider"}
    assert placement["node_runs"]["CPUExecutionProvider"] > 0
    assert placement["cuda_share_by_count"] == 0.0 and placement["cuda_share_by_time"] == 0.0


def test_without_cuda_and_without_allow_cpu_nothing_is_written(
    sample_artifact: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["bench_gpu", "--artifact", str(sample_artifact)])
    before = bench_gpu.RESULTS.joinpath("gpu.json").exists()
    bench_gpu.main()
    assert "no CUDA provider here" in capsys.readouterr().out
    assert bench_gpu.RESULTS.joinpath("gpu.json").exists() == before

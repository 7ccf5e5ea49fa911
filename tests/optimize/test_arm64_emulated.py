"""arm64 executed here: the real arm64 Lambda asset under qemu-user (Graviton2 CPU model).

Fetches (or reuses) qemu 10 and a Debian trixie arm64 root under .precast/arm64/, builds the
arm64 / Python 3.13 Lambda asset, and runs edge and the real handler inside the emulator.
Slow (minutes: emulated), so a small text count; `make certify-arm64` runs the full 200."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.emulated]


@pytest.fixture(scope="module")
def report(sample_artifact: Any, repo_root: Any, monkeypatch_module: Any) -> dict[str, Any]:
    for tool in ("apt-get", "dpkg"):
        assert shutil.which(tool), f"{tool} is needed to emulate arm64 (apt-get install {tool})"
    from optimize.emulation import certify

    monkeypatch_module.chdir(repo_root)
    return certify("minilm", texts=16)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Any:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_the_arm64_handler_answers_function_url_events(report: dict[str, Any]) -> None:
    """GIVEN the arm64 asset under qemu WHEN its handler gets /healthz and a predict event
    THEN both answer 200 and the served vectors are what edge computes there."""
    assert report["handler"]["statuses"] == [200, 200]
    assert report["handler"]["served_equals_edge"]


def test_arm64_passes_the_accuracy_gate_and_its_start_up_check(report: dict[str, Any]) -> None:
    """GIVEN held-out texts run on emulated arm64 WHEN compared with the fp32 reference and
    with this x86 host THEN the gate holds, the smoke check passed, and the deviation from
    this host is within the smoke bound (the manifest's tolerance)."""
    assert report["passed"]
    assert report["smoke"]["min_cosine"] >= report["smoke"]["required"]
    assert report["arm64_vs_fp32"]["mean_cosine"] >= report["gate"]["min_mean_cosine"]
    assert report["arm64_vs_this_host"]["min_cosine"] >= report["smoke"]["required"]
    assert report["plan"].startswith("one text per run")

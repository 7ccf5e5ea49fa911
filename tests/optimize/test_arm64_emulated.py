"""arm64 executed here: the real arm64 Lambda asset under qemu-user (Graviton2 CPU model).

Fetches (or reuses) qemu 10 and a Debian trixie arm64 root under .precast/arm64/, builds the
arm64 / Python 3.13 Lambda asset, and runs edge and the real handler inside the emulator.
Slow (minutes: emulated), so a small text count; `make certify-arm64` runs the full 200."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.emulated]


@pytest.fixture(scope="module")
def certified(
    sample_artifact: Path,
    project_config: Any,
    repo_root: Path,
    monkeypatch_module: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, Any]]:
    """A copy of the sample artifact certified for arm64 (what `precast optimize minilm
    --certify arm64` does): the new version's directory and the emulated run's report."""
    for tool in ("apt-get", "dpkg"):
        assert shutil.which(tool), f"{tool} is needed to emulate arm64 (apt-get install {tool})"
    from optimize.certify import certify_artifact

    monkeypatch_module.chdir(repo_root)  # the emulator's cache lives under .precast/arm64/
    root = tmp_path_factory.mktemp("artifacts") / "minilm"
    copy = root / sample_artifact.name
    shutil.copytree(sample_artifact, copy)
    directory, reports = certify_artifact(copy, project_config.model("minilm"), ["arm64"], texts=16)
    return directory, reports["arm64"]


@pytest.fixture(scope="module")
def report(certified: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    return certified[1]


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


def test_the_certified_manifest_records_arm64_and_its_deviation(
    certified: tuple[Path, dict[str, Any]], sample_artifact: Path
) -> None:
    """GIVEN the certified copy WHEN its manifest is read THEN it is a new version (the
    manifest is content) certifying this host's kind and aarch64, with arm64's accuracy and
    its deviation from this host; loading it here and on arm64 both count as certified."""
    import edge
    from edge.certification import certification
    from edge.host import AARCH64, host_kind

    directory, report = certified
    model = edge.load(directory)
    assert directory.name == model.version != sample_artifact.name
    entry = model.manifest.certified[AARCH64]
    assert entry.min_cosine == report["arm64_vs_fp32"]["min_cosine"]
    (deviation,) = (entry.deviation_from or {}).values()
    assert deviation["min_cosine"] == report["arm64_vs_this_host"]["min_cosine"]
    assert host_kind() in model.manifest.certified and model.certified
    assert certification(model.manifest, AARCH64).certified
    assert (directory.parent / "latest").read_text().strip() == directory.name

"""Variants of the real sample artifact: what optimize emits, what each host runs, the
fallbacks when a variant cannot run, and what each copy (bundle, Lambda asset) carries."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import edge
from edge.bundle_writer import build_bundle
from edge.engines import installed_engines
from edge.file_hash import sha256_file
from edge.health import smoke_check
from edge.host import AARCH64, CUDA, host_kind
from edge.manifest import Manifest, Measurement, VariantSpec, read_manifest
from edge.session import SessionConfig
from edge.variant_targets import files_for_target
from edge.variants import HostFacts, open_best
from optimize.variants import CUDA_FILE, CUDA_VARIANT
from precast.cli import main as precast_main

CPU = "CPUExecutionProvider"
CUDA_EP = "CUDAExecutionProvider"


def add_variant(directory: Path, spec: VariantSpec) -> None:
    """Rewrite ``directory``'s manifest with one more variant (and its new version)."""
    raw = json.loads((directory / "manifest.json").read_text())
    doc = Manifest.from_json(raw)
    new = replace(doc, listed_variants=(*doc.variants, spec)).versioned()
    (directory / "manifest.json").write_text(json.dumps(new.to_json(), indent=2))


def measured(certified: dict[str, dict[str, Any]]) -> dict[str, Measurement]:
    """Host kind -> Measurement, from what the manifest's JSON says was measured there."""
    return {kind: Measurement.from_json(entry) for kind, entry in certified.items()}


def cpu_variant(directory: Path, name: str, file: str, certified: dict[str, Any]) -> VariantSpec:
    path = directory / file
    size = path.stat().st_size
    return VariantSpec(name, file, sha256_file(path), size, certified=measured(certified))


def cuda_host() -> HostFacts:
    """This host, told that CUDA is available and requested (it is not: ORT is CPU-only)."""
    return HostFacts(host_kind(), (CUDA_EP, CPU), (CUDA_EP,), installed_engines())


@pytest.mark.slow
def test_optimize_emits_a_cuda_fp16_variant_gated_on_the_cpu(
    sample_artifact: Path, project_config: Any
) -> None:
    """GIVEN the sample built for targets including modal THEN the manifest lists the CPU
    int8 default and a CUDA fp16 file (fp16 weights, fp32 I/O) whose sha256 matches,
    certified under "cuda" by a CPU run that met the accuracy budget, with its own smoke
    vectors; the default variant's files and size are what they were."""
    import onnx

    manifest = read_manifest(sample_artifact)
    default, gpu = manifest.variants
    assert (default.name, default.file, default.provider) == ("cpu-int8", "model.onnx", CPU)
    assert (gpu.name, gpu.file, gpu.provider, gpu.precision) == (
        CUDA_VARIANT, CUDA_FILE, CUDA_EP, "fp16",
    )  # fmt: skip
    assert sha256_file(sample_artifact / gpu.file) == gpu.sha256
    assert set(manifest.files) == {"model.onnx", "tokenizer.json"}
    gate = gpu.certified[CUDA]
    budget = project_config.model("minilm").accuracy
    assert gate.mean_cosine is not None and gate.mean_cosine >= budget.min_mean_cosine
    assert gate.min_cosine is not None and gate.min_cosine >= budget.min_cosine
    assert "ORT CPU" in (gate.how or "")
    assert len(gpu.smoke) == len(manifest.smoke.texts or ())
    graph = onnx.load(str(sample_artifact / gpu.file)).graph
    fp16 = [t for t in graph.initializer if t.data_type == onnx.TensorProto.FLOAT16]
    assert len(fp16) > len(graph.initializer) // 2
    assert graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert host_kind() in manifest.certified  # the default is certified where it was built
    assert (manifest.certified[host_kind()].texts_per_s or 0) > 0


def test_without_cuda_the_cpu_variant_runs_and_says_why(sample_model: Any) -> None:
    """GIVEN no CUDA provider here WHEN the sample loads THEN cpu-int8 runs, certified for
    this host, and the CUDA variant is listed as skipped with the reason."""
    choice = sample_model.variant
    assert choice.name == "cpu-int8" and choice.certified and sample_model.certified
    assert "CUDAExecutionProvider is not available here" in dict(choice.skipped)[CUDA_VARIANT]
    assert sample_model.computed_by == f"{host_kind()}/per-text"  # cache tags unchanged


def test_cuda_requested_but_not_initializing_falls_back_to_ort_cpu(sample_artifact: Path) -> None:
    """GIVEN host facts saying CUDA is active WHEN the best variant opens THEN cuda-fp16 is
    tried first, its session lands on the CPU (no GPU here), and the CPU int8 variant is
    what runs, the reason saying it is a fallback."""
    manifest = read_manifest(sample_artifact)
    config = SessionConfig(providers=(CUDA_EP,))
    session, plan, choice = open_best(sample_artifact, manifest, config, facts=cuda_host())
    assert choice.name == "cpu-int8" and session.get_providers() == [CPU]
    assert choice.reason.startswith("fallback after 1 failed")
    assert "did not initialize" in dict(choice.skipped)[CUDA_VARIANT]
    assert plan.mode == "per-text"


def test_a_tampered_variant_file_never_runs(artifact_copy: Path) -> None:
    """GIVEN the CUDA file altered after the build WHEN it would be chosen THEN its sha256
    check fails before any session exists, and the CPU variant runs."""
    with open(artifact_copy / CUDA_FILE, "r+b") as fh:
        fh.seek(1000)
        fh.write(b"\x00" * 16)
    manifest = read_manifest(artifact_copy)
    _, _, choice = open_best(artifact_copy, manifest, SessionConfig(), facts=cuda_host())
    assert choice.name == "cpu-int8"
    assert "does not match the manifest" in dict(choice.skipped)[CUDA_VARIANT]


def test_a_variant_whose_session_fails_to_load_falls_back(artifact_copy: Path) -> None:
    """GIVEN a variant measured fastest here whose file ONNX Runtime cannot load WHEN
    edge.load THEN the load still succeeds on the default variant, and says why."""
    (artifact_copy / "model.broken.onnx").write_bytes(b"not an onnx graph")
    fast = {host_kind(): {"mean_cosine": 1.0, "texts_per_s": 1e9}}
    add_variant(artifact_copy, cpu_variant(artifact_copy, "cpu-broken", "model.broken.onnx", fast))
    model = edge.load(artifact_copy)
    assert model.variant is not None and model.variant.name == "cpu-int8"
    assert dict(model.variant.skipped)["cpu-broken"].startswith("failed to load")
    assert model.predict(["still answers"]).shape == (1, 384)


def test_a_variant_never_certified_here_says_so_in_info_and_health(
    artifact_copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """GIVEN a variant certified for aarch64 only, chosen with PRECAST_VARIANT on this x86
    host WHEN loaded THEN it runs, model.certified is False, and model.certification, the
    health check and `precast info` all say this variant was never certified here."""
    shutil.copyfile(artifact_copy / "model.onnx", artifact_copy / "model.alt.onnx")
    arm_only = {AARCH64: {"mean_cosine": 0.99}}
    add_variant(artifact_copy, cpu_variant(artifact_copy, "cpu-alt", "model.alt.onnx", arm_only))
    monkeypatch.setenv("PRECAST_VARIANT", "cpu-alt")
    model = edge.load(artifact_copy)
    assert model.variant is not None and model.variant.name == "cpu-alt"
    assert not model.certified
    said = f"variant cpu-alt NOT certified for {host_kind()} (never measured there)"
    assert said in model.certification.describe()
    report = smoke_check(artifact_copy)
    assert report.passed and said in report.describe()
    assert precast_main(["info", str(artifact_copy), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["variant"]["name"] == "cpu-alt" and info["certified"] is False
    assert info["variant"]["reason"] == "forced by PRECAST_VARIANT"


def test_edge_bundle_and_lambda_asset_leave_the_cuda_variant_out(
    sample_artifact: Path, tmp_path: Path
) -> None:
    """GIVEN the sample with its CUDA variant WHEN bundled for the edge (default) and for
    modal THEN the edge bundle holds exactly what it held before variants (manifest, int8
    model, tokenizer) and loads with the CUDA variant "not in this copy"; the modal bundle
    carries the CUDA file and verifies too; the Lambda asset's file list is the edge one."""
    from securesystemslib.signer import CryptoSigner

    signer = CryptoSigner.generate_ed25519()
    manifest = read_manifest(sample_artifact)
    assert files_for_target(manifest, "lambda") == ["model.onnx", "tokenizer.json"]
    assert CUDA_FILE in files_for_target(manifest, "modal")
    default = build_bundle(sample_artifact, signer, tmp_path / "edge")
    modal = build_bundle(sample_artifact, signer, tmp_path / "modal", target="modal")
    key = [signer.public_key]
    small = edge.load(default, public_key=key, extract_to=tmp_path / "x-edge")
    assert sorted(p.name for p in small.directory.iterdir() if p.suffix == ".onnx") == [
        "model.onnx"
    ]
    assert small.variant is not None and small.variant.name == "cpu-int8"
    assert "not in this copy" in dict(small.variant.skipped)[CUDA_VARIANT]
    big = edge.load(modal, public_key=key, extract_to=tmp_path / "x-modal")
    assert (big.directory / CUDA_FILE).is_file()
    assert modal.stat().st_size > default.stat().st_size + 20e6
    np.testing.assert_array_equal(small.predict(["same answer"]), big.predict(["same answer"]))


def test_an_openvino_variant_certified_fastest_here_runs_on_openvino(
    artifact_copy: Path, sample_model: Any
) -> None:
    """GIVEN OpenVINO installed (the dev lock pins it) and a variant on the OpenVINO engine
    certified here as the fastest WHEN edge.load THEN it runs on OpenVINO's CPU plugin, in
    same-length groups (the batch-invariant plan), passes its own smoke check and agrees with
    the ORT int8 default."""
    cuda = read_manifest(artifact_copy).variants[1]
    shutil.copyfile(artifact_copy / CUDA_FILE, artifact_copy / "model.ov.onnx")
    spec = cpu_variant(artifact_copy, "openvino-fp16", "model.ov.onnx", {})
    fast = measured({host_kind(): {"mean_cosine": 1.0, "texts_per_s": 1e9}})
    spec = replace(spec, engine="openvino", provider="CPU", precision="fp16", certified=fast,
                   smoke=cuda.smoke)  # fmt: skip
    add_variant(artifact_copy, spec)
    model = edge.load(artifact_copy)
    assert model.variant is not None and model.variant.name == "openvino-fp16"
    assert model.providers == ["OpenVINO/CPU"] and model.plan.mode == "same-length"
    assert model.smoke is not None and model.smoke.passed and model.certified
    texts = ["an embedding on another engine", "short", "a somewhat longer text " * 20]
    cos = (model.predict(texts) * sample_model.predict(texts)).sum(axis=1)
    assert cos.min() > 0.98


def test_the_modal_image_carries_the_cuda_variant(sample_artifact: Path) -> None:
    """GIVEN the deploy environment naming the sample WHEN the Modal image's file list is
    computed THEN it holds the manifest, the CPU int8 file, the tokenizer and the CUDA file."""
    from functions.modal_settings import DeploySettings

    settings = DeploySettings.from_env({"PRECAST_ARTIFACT_DIR": str(sample_artifact)})
    assert settings.artifact_files() == [
        "manifest.json", CUDA_FILE, "model.onnx", "tokenizer.json",
    ]  # fmt: skip


def test_a_variant_that_fails_its_start_up_check_gives_way_to_the_default(
    artifact_copy: Path,
) -> None:
    """GIVEN a variant certified fastest here whose recorded smoke answers this host does
    not reproduce WHEN edge.load THEN the default ORT CPU variant serves (its own smoke
    check passes) and the choice says the other one failed its start-up check."""
    shutil.copyfile(artifact_copy / "model.onnx", artifact_copy / "model.wrong.onnx")
    fast = {host_kind(): {"mean_cosine": 1.0, "texts_per_s": 1e9}}
    smoke = read_manifest(artifact_copy).smoke.vectors or ()
    spec = replace(
        cpu_variant(artifact_copy, "cpu-wrong", "model.wrong.onnx", fast),
        smoke=tuple(tuple(-x for x in row) for row in smoke),  # what this host will not give
    )
    add_variant(artifact_copy, spec)
    model = edge.load(artifact_copy)
    assert model.variant is not None and model.variant.name == "cpu-int8"
    assert model.variant.reason == "fallback: cpu-wrong failed its start-up check"
    assert "min smoke cosine -1.0000" in dict(model.variant.skipped)["cpu-wrong"]
    assert model.smoke is not None and model.smoke.passed

"""Variant choice from host facts alone (edge/variants.py ``rank``): no model, no session.

GIVEN a manifest with a CPU int8, an OpenVINO bf16 and a CUDA fp16 variant, WHEN hosts of
different kinds, providers and installed engines are described to ``rank`` THEN each gets
the variant certified fastest for it, the ones it cannot run are skipped with the reason,
and the default ORT CPU variant is always last in line.
"""

from __future__ import annotations

from typing import Any

import pytest

from edge.exceptions import ArtifactError
from edge.host import AARCH64, CUDA, X86_AVX2, X86_AVX512_VNNI
from edge.manifest import parse_manifest
from edge.variants import HostFacts, rank

CPU = "CPUExecutionProvider"
CUDA_EP = "CUDAExecutionProvider"
ALL_FILES = {"model.onnx", "model.openvino.onnx", "model.cuda-fp16.onnx"}


def manifest(variants: list[dict[str, Any]] | None = None) -> Any:
    raw: dict[str, Any] = {
        "format_version": 1,
        "name": "m",
        "version": "v1",
        "task": "feature-extraction",
        "pooling": "mean",
        "max_tokens": 128,
        "inputs": ["input_ids", "attention_mask"],
        "outputs": [{"name": "last_hidden_state"}],
        "files": {
            "model.onnx": {"sha256": "a" * 64, "size": 1},
            "tokenizer.json": {"sha256": "b" * 64, "size": 1},
        },
        # the default variant's certification: the top-level field
        "certified": {
            X86_AVX512_VNNI: {"mean_cosine": 0.99, "texts_per_s": 300.0},
            X86_AVX2: {"mean_cosine": 0.99, "texts_per_s": 120.0},
        },
        "quantization": {"recipe": "dynamic-int8-per-channel"},
    }
    if variants is not None:
        raw["variants"] = variants
    return parse_manifest(raw)


def variant(name: str, file: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "file": file, "sha256": ("a" if file == "model.onnx" else "c") * 64,
            "size": 1, **kw}  # fmt: skip


THREE = [
    variant("cpu-int8", "model.onnx"),
    variant(
        "openvino-bf16", "model.openvino.onnx", engine="openvino", provider="CPU",
        precision="bf16", certified={X86_AVX512_VNNI: {"mean_cosine": 0.999, "texts_per_s": 430.0}},
    ),
    variant(
        "cuda-fp16", "model.cuda-fp16.onnx", provider=CUDA_EP, precision="fp16",
        certified={CUDA: {"mean_cosine": 0.9999}},
    ),
]  # fmt: skip


def facts(
    kind: str,
    providers: tuple[str, ...] = (CPU,),
    engines: tuple[str, ...] = ("onnxruntime",),
    requested: tuple[str, ...] = (CUDA_EP,),
) -> HostFacts:
    return HostFacts(kind, providers, requested, frozenset(engines))


def names(ordered: list[Any]) -> list[str]:
    return [v.name for v, _ in ordered]


def test_avx512_host_with_openvino_runs_the_variant_measured_fastest_there() -> None:
    """GIVEN OpenVINO installed on an AVX-512 VNNI host, CPU only THEN openvino-bf16 (430
    texts/s measured there) before cpu-int8 (300), and CUDA skipped as not available."""
    ordered, skipped = rank(
        manifest(THREE), facts(X86_AVX512_VNNI, engines=("onnxruntime", "openvino")), ALL_FILES
    )
    assert names(ordered) == ["openvino-bf16", "cpu-int8"]
    assert ordered[0][1].startswith("fastest certified on x86_64-avx512-vnni, 430 texts/s")
    assert dict(skipped)["cuda-fp16"].startswith("CUDAExecutionProvider is not available here")


def test_a_variant_certified_on_another_isa_ranks_below_the_certified_default() -> None:
    """GIVEN the same manifest on an AVX2-only host (OpenVINO certified on AVX-512 only)
    THEN the default int8, certified on AVX2, comes first and OpenVINO after it."""
    ordered, _ = rank(
        manifest(THREE), facts(X86_AVX2, engines=("onnxruntime", "openvino")), ALL_FILES
    )
    assert names(ordered) == ["cpu-int8", "openvino-bf16"]


def test_an_engine_that_is_not_installed_is_skipped_with_how_to_install_it() -> None:
    ordered, skipped = rank(manifest(THREE), facts(X86_AVX512_VNNI), ALL_FILES)
    assert names(ordered) == ["cpu-int8"]
    assert (
        "engine openvino is not installed (pip install 'precast[openvino]')"
        == dict(skipped)["openvino-bf16"]
    )


def test_cuda_active_picks_the_gpu_variant_certified_under_cuda() -> None:
    """GIVEN CUDA among the available and the requested providers THEN cuda-fp16 first (a GPU
    beats any CPU variant), then the CPU variants as fallbacks."""
    host = facts(X86_AVX512_VNNI, providers=(CUDA_EP, CPU))
    ordered, skipped = rank(manifest(THREE), host, ALL_FILES)
    assert names(ordered) == ["cuda-fp16", "cpu-int8"]
    assert ordered[0][1] == "CUDAExecutionProvider is active here"
    assert "openvino-bf16" in dict(skipped)


def test_cuda_available_but_not_requested_stays_on_the_cpu() -> None:
    """GIVEN CUDA present but the caller asks for the CPU only (Modal's snapshot phase)."""
    host = facts(X86_AVX512_VNNI, providers=(CUDA_EP, CPU), requested=(CPU,))
    ordered, skipped = rank(manifest(THREE), host, ALL_FILES)
    assert names(ordered) == ["cpu-int8"]
    assert (
        dict(skipped)["cuda-fp16"] == "CUDAExecutionProvider is not among the requested providers"
    )


def test_a_copy_without_a_variant_file_skips_it_as_not_carried() -> None:
    """GIVEN a bundle built for the edge target (no CUDA file) on a CUDA host."""
    host = facts(X86_AVX512_VNNI, providers=(CUDA_EP, CPU))
    ordered, skipped = rank(manifest(THREE), host, {"model.onnx"})
    assert names(ordered) == ["cpu-int8"]
    assert "not in this copy" in dict(skipped)["cuda-fp16"]


def test_a_host_kind_nothing_was_certified_on_still_gets_the_default() -> None:
    ordered, _ = rank(manifest(THREE), facts(AARCH64), ALL_FILES)
    assert names(ordered) == ["cpu-int8"] and ordered[0][1] == "default (ORT CPU)"


def test_forcing_a_variant_puts_it_first_and_keeps_the_default_as_fallback() -> None:
    ordered, skipped = rank(
        manifest(THREE),
        facts(X86_AVX2, providers=(CUDA_EP, CPU), engines=("onnxruntime", "openvino")),
        ALL_FILES,
        forced="openvino-bf16",
    )  # fmt: skip
    assert names(ordered) == ["openvino-bf16", "cpu-int8"]
    assert "PRECAST_VARIANT asks for openvino-bf16" in dict(skipped)["cuda-fp16"]
    with pytest.raises(ArtifactError, match="choices are cpu-int8|openvino-bf16|cuda-fp16"):
        rank(manifest(THREE), facts(X86_AVX2), ALL_FILES, forced="tpu")


def test_a_single_file_manifest_has_one_implied_default_variant() -> None:
    """GIVEN a manifest written before variants existed THEN it loads with one variant,
    ORT CPU on model.onnx, named for its recipe's precision and certified as before."""
    old = manifest(None)
    (only,) = old.variants
    assert (only.name, only.file, only.engine, only.provider, only.precision) == (
        "cpu-int8", "model.onnx", "onnxruntime", CPU, "int8",
    )  # fmt: skip
    ordered, skipped = rank(old, facts(X86_AVX512_VNNI), {"model.onnx"})
    assert names(ordered) == ["cpu-int8"] and skipped == []
    assert "300 texts/s" in ordered[0][1]


@pytest.mark.parametrize(
    ("variants", "message"),
    [
        ([variant("x", "model.cuda-fp16.onnx")], "variants list none for 'model.onnx'"),
        ([variant("a", "model.onnx"), variant("a", "b.onnx")], "variant names must be unique"),
        ([variant("a", "model.onnx"), variant("b", "../b.onnx")], "must be a plain name"),
        ([{**variant("a", "model.onnx"), "sha256": "f" * 64}], "differs from files"),
    ],
)
def test_malformed_variants_are_refused_naming_the_problem(
    variants: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(ArtifactError, match=message):
        manifest(variants)

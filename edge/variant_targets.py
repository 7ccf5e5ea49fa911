"""Which variants a copy of an artifact built for a target carries.

A bundle, a Lambda asset or a Modal image carries the manifest (all variants listed, so
the version is the same everywhere) and only the model files its target can run: the
Lambda asset and the default edge bundle ONNX Runtime on the CPU (their size unchanged by
variants), the batch image and x86 boxes also OpenVINO, Modal also CUDA. A variant left out
is reported by :mod:`edge.variants` as "not in this copy".
"""

from __future__ import annotations

from edge.engines import ONNXRUNTIME, OPENVINO
from edge.manifest import Manifest, VariantSpec

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
# target -> the (engine, provider) pairs its copies can run
TARGET_RUNS: dict[str, frozenset[tuple[str, str]]] = {
    "lambda": frozenset({(ONNXRUNTIME, CPU)}),
    "edge": frozenset({(ONNXRUNTIME, CPU)}),
    "edge-openvino": frozenset({(ONNXRUNTIME, CPU), (OPENVINO, "CPU")}),
    "batch": frozenset({(ONNXRUNTIME, CPU), (OPENVINO, "CPU")}),
    "modal": frozenset({(ONNXRUNTIME, CPU), (ONNXRUNTIME, CUDA)}),
}


def carried_variants(manifest: Manifest, target: str) -> list[VariantSpec]:
    """The variants a copy for ``target`` carries (the default one always)."""
    if target not in TARGET_RUNS:
        raise ValueError(f"unknown target {target!r}. Choices are: {'|'.join(TARGET_RUNS)}")
    runs = TARGET_RUNS[target]
    return [v for v in manifest.variants if v.is_default or (v.engine, v.provider) in runs]


def files_for_target(manifest: Manifest, target: str) -> list[str]:
    """The file names (besides manifest.json) a copy for ``target`` carries."""
    return sorted({*manifest.files, *(v.file for v in carried_variants(manifest, target))})

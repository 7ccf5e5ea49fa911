"""Step 3: quantization recipes as typed presets.

A :class:`Recipe` is data; :func:`apply_recipe` turns an optimized fp32 graph into the
recipe's model. ISA matters: without an int8 dot-product instruction (VNNI), ONNX Runtime's
U8S8 kernels can saturate, so the int8 presets turn on ``reduce_range`` (7-bit weights)
there. The accuracy gate, not this guess, decides what ships.

Two recipes are built for real base-size weights, whose activation outliers tiny random
models do not have: ``dynamic-int8-selective`` keeps the layers a per-layer sensitivity pass
finds most damaged in fp32 (:mod:`optimize.sensitivity`), and ``static-int8-smoothquant``
is NNCF's transformer recipe (SmoothQuant migrates activation outliers into the weights,
then static int8 QDQ, per-channel weights, fast bias correction), written as a QDQ ONNX file
that ONNX Runtime and OpenVINO both run. ORT's own ``SmoothQuant`` option is not used: it
imports ``neural_compressor.adaptor.ox_utils``, which only neural-compressor <= 3.7.1 ships,
and every such release requires numpy < 2.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from optimize.isa import cpu_info

QUANTIZERS = ("onnxruntime", "nncf")
SMOOTHQUANT_RECIPE = "static-int8-smoothquant"


@dataclass(frozen=True)
class Recipe:
    name: str
    kind: str  # "fp32" | "dynamic" | "static"
    per_channel: bool = False
    reduce_range: bool = False
    op_types: tuple[str, ...] = ("MatMul",)
    # "fused" (Attention ops) | "unfused" (plain MatMul attention) | "export" (no ORT fusions)
    graph: str = "fused"
    quantizer: str = "onnxruntime"  # "onnxruntime" | "nncf" (SmoothQuant + static QDQ)
    sensitivity: bool = False  # dynamic: keep the most damaged layers in fp32

    def __post_init__(self) -> None:
        if self.kind not in ("fp32", "dynamic", "static"):
            raise ValueError(f"recipe kind {self.kind!r}: choices are fp32|dynamic|static")
        if self.quantizer not in QUANTIZERS:
            raise ValueError(f"quantizer {self.quantizer!r}: choices are {'|'.join(QUANTIZERS)}")

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": self.kind,
            "per_channel": self.per_channel,
            "reduce_range": self.reduce_range,
            "op_types": list(self.op_types),
            "graph": self.graph,
            "quantizer": self.quantizer,
            "sensitivity": self.sensitivity,
            "weights": "fp32" if self.kind == "fp32" else "int8",
            "activations": {"fp32": "fp32", "dynamic": "uint8 (runtime)", "static": "uint8"}[
                self.kind
            ],
        }


def preset(name: str, *, int8_dot_product: bool | None = None) -> Recipe:
    """The recipe called ``name``, tuned for this CPU's ISA.

    The dynamic presets quantize activations at run time with U8S8 kernels, so on a CPU
    without VNNI they use ``reduce_range``. The static preset calibrates activation ranges
    on real text, quantizes embeddings (Gather) and every MatMul of an attention-unfused
    graph, and keeps the full int8 range: measured on an AVX2-only EPYC it was the most
    accurate int8 recipe (mean cosine 0.998 vs 0.992 dynamic). The gate checks it anyway.
    """
    vnni = cpu_info()["int8_dot_product"] if int8_dot_product is None else int8_dot_product
    reduce = not vnni
    everything = ("MatMul", "Attention", "EmbedLayerNormalization")
    presets = {
        "fp32-optimized": Recipe("fp32-optimized", "fp32"),
        "dynamic-int8": Recipe(
            "dynamic-int8", "dynamic", per_channel=False, reduce_range=reduce, op_types=everything
        ),
        "dynamic-int8-per-channel": Recipe(
            "dynamic-int8-per-channel",
            "dynamic",
            per_channel=True,
            reduce_range=reduce,
            op_types=everything,
        ),
        "static-int8-per-channel": Recipe(
            "static-int8-per-channel",
            "static",
            per_channel=True,
            reduce_range=False,
            op_types=("MatMul", "Gather"),
            graph="unfused",
        ),
        "dynamic-int8-selective": Recipe(
            "dynamic-int8-selective",
            "dynamic",
            per_channel=True,
            reduce_range=reduce,
            op_types=everything,
            sensitivity=True,
        ),
        SMOOTHQUANT_RECIPE: Recipe(
            SMOOTHQUANT_RECIPE,
            "static",
            per_channel=True,
            op_types=("MatMul",),
            graph="export",
            quantizer="nncf",
        ),
    }
    try:
        return presets[name]
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}. Choices are: {'|'.join(presets)}") from None


class _Calibration:
    """ORT CalibrationDataReader over tokenized calibration texts (one text per step)."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
        self._feeds = feeds
        self._it: Iterator[dict[str, np.ndarray]] = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = iter(self._feeds)


def apply_recipe(
    recipe: Recipe,
    fp32_optimized: Path,
    out: Path,
    *,
    calibration_feeds: Callable[[], list[dict[str, np.ndarray]]] | None = None,
    gate: Callable[[Path], list[str]] | None = None,
    notes: dict[str, Any] | None = None,
) -> Path:
    """Write the recipe's model to ``out`` and return it.

    ``gate`` (the accuracy failures of a model file on the calibration texts) is what the
    sensitivity pass stops on; ``notes`` receives what the recipe decided on this model
    (the layers kept in fp32 and why), for the manifest.
    """
    if recipe.kind == "fp32":
        shutil.copyfile(fp32_optimized, out)
    elif recipe.kind == "dynamic" and recipe.sensitivity:
        _selective(recipe, fp32_optimized, out, feeds=calibration_feeds, gate=gate, notes=notes)
    elif recipe.kind == "dynamic":
        _dynamic(recipe, fp32_optimized, out, [])
    elif calibration_feeds is None:
        raise ValueError(f"the {recipe.name} recipe needs calibration data")
    elif recipe.quantizer == "nncf":
        _nncf_static(fp32_optimized, out, calibration_feeds(), notes)
    else:
        _ort_static(recipe, fp32_optimized, out, calibration_feeds())
    return out


def _dynamic(recipe: Recipe, fp32_optimized: Path, out: Path, exclude: list[str]) -> Path:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(fp32_optimized),
        str(out),
        per_channel=recipe.per_channel,
        reduce_range=recipe.reduce_range,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=list(recipe.op_types),
        nodes_to_exclude=exclude,
        # fused contrib ops (Attention, SkipLayerNormalization) defeat ONNX shape
        # inference; their outputs are float32.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    return out


def _selective(
    recipe: Recipe,
    fp32_optimized: Path,
    out: Path,
    *,
    feeds: Callable[[], list[dict[str, np.ndarray]]] | None,
    gate: Callable[[Path], list[str]] | None,
    notes: dict[str, Any] | None,
) -> None:
    """Dynamic int8 with the layers the sensitivity pass ranks worst kept in fp32."""
    from optimize import sensitivity

    if feeds is None or gate is None:
        raise ValueError(f"the {recipe.name} recipe needs calibration data and a gate")
    ranked = sensitivity.rank_layers(
        fp32_optimized,
        feeds()[: sensitivity.RANKING_TEXTS],
        per_channel=recipe.per_channel,
        reduce_range=recipe.reduce_range,
    )
    _, selection = sensitivity.keep_in_fp32(
        ranked, lambda exclude: _dynamic(recipe, fp32_optimized, out, exclude), gate
    )
    if notes is not None:
        notes.update(selection.describe())


def _ort_static(
    recipe: Recipe, fp32_optimized: Path, out: Path, feeds: list[dict[str, np.ndarray]]
) -> None:
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    quantize_static(
        str(fp32_optimized),
        str(out),
        _Calibration(feeds),
        quant_format=QuantFormat.QDQ,
        per_channel=recipe.per_channel,
        reduce_range=recipe.reduce_range,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=list(recipe.op_types),
        calibrate_method=CalibrationMethod.MinMax,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def nncf_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("nncf") is not None


def _nncf_static(
    fp32: Path, out: Path, feeds: list[dict[str, np.ndarray]], notes: dict[str, Any] | None
) -> None:
    """NNCF's transformer recipe on the ONNX graph: SmoothQuant, static int8 QDQ with
    per-channel weights, fast bias correction; calibrated on every calibration text."""
    if not nncf_available():
        raise ImportError(
            "the static-int8-smoothquant recipe quantizes with NNCF, which is not installed: "
            "pip install 'precast[optimize]' (or drop the recipe from [models.X.optimize] "
            "recipes)"
        )
    import nncf
    import onnx

    model = onnx.load(str(fp32))
    quantized = nncf.quantize(
        model,
        nncf.Dataset(feeds),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(feeds),
    )
    onnx.save(quantized, str(out))
    if notes is not None:
        notes.update(
            {
                "quantizer": f"nncf {nncf.__version__} (ONNX backend)",
                "algorithms": "SmoothQuant, MinMax static int8 QDQ (per-channel weights), "
                "FastBiasCorrection; model_type=TRANSFORMER",
                "calibration_texts": len(feeds),
            }
        )

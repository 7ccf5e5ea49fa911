"""Step 6: write the artifact: winner's files, the full manifest, one atomic rename.

The version is :func:`edge.manifest.manifest_version` of the finished manifest, so the
directory name changes whenever any file or field does.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import edge
from edge.artifact_layout import point_latest
from edge.host import host_kind
from edge.manifest import (
    DEFAULT_MODEL_FILE,
    SMOKE_MIN_COSINE,
    FileEntry,
    Manifest,
    Metrics,
    Quantization,
    SmokeSet,
    Source,
    VariantSpec,
    default_variant_name,
    read_manifest,
)
from edge.smoke import smoke_vectors
from optimize.certify import build_host_entry
from optimize.evaluate import Scores
from optimize.export import TOKENIZER_FILE
from optimize.graph import count_ops
from optimize.isa import cpu_info
from optimize.recipes import preset
from optimize.smoke_set import smoke_texts
from optimize.steps import NOTES_FILE, Build, Choice, Reference, files_of, write_manifest
from optimize.variants import BuiltVariant, verdicts

TOOLS = ("onnxruntime", "optimum", "onnx", "torch", "openvino", "nncf")


@dataclass(frozen=True)
class OptimizeResult:
    directory: Path
    manifest: Manifest
    reused: bool


def tool_version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "absent"


def quantization(build: Build, scored: dict[str, Scores], choice: Choice) -> Quantization:
    final = build.work / "final"
    return Quantization.from_json(
        {
            "recipe": choice.winner,
            "settings": preset(choice.winner).describe(),
            "reason": choice.reason,
            "budget_met": choice.budget_met,
            "candidates": {
                n: {
                    **s.as_dict(),
                    "failures": choice.failures[n],
                    **verdict(n, s, choice, recipe_notes(build, n)),
                }
                for n, s in scored.items()
            }
            | {  # over max_size_mb right after quantizing: never scored
                n: {
                    "size_bytes": size,
                    "failures": choice.failures[n],
                    "verdict": "lost: over max_size_mb, not scored: "
                    + ", ".join(choice.failures[n]),
                    **({"decisions": notes} if (notes := recipe_notes(build, n)) else {}),
                }
                for n, size in choice.unscored.items()
            },
            "op_counts": count_ops(final / "model.onnx"),
            **({"variants": gated} if (gated := verdicts(build)) else {}),
            "fusions": build.fusions,
        }
    )


def recipe_notes(build: Build, name: str) -> dict[str, Any]:
    path = build.work / "candidates" / name / NOTES_FILE
    notes: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    return notes


def verdict(name: str, s: Scores, choice: Choice, notes: dict[str, Any]) -> dict[str, Any]:
    """Why ``name`` won or lost, and what its recipe decided on this model (the layers a
    sensitivity pass kept in fp32, the quantizer's algorithms)."""
    if name == choice.winner:
        outcome = "won: " + choice.reason.split(";")[0]
    elif choice.failures[name]:
        outcome = "lost: over budget: " + ", ".join(choice.failures[name])
    else:
        outcome = (
            f"lost: within budget but {s.texts_per_s:.0f} texts/s, {s.size_bytes / 1e6:.1f} MB "
            f"against the winner's rule ({choice.reason.split(';')[0]})"
        )
    return {"verdict": outcome, **({"decisions": notes} if notes else {})}


def smoke(build: Build, ref: Reference, winner: str) -> SmokeSet:
    """Known texts and the vectors the artifact gives for them, one text at a time."""
    texts = smoke_texts(ref)
    vectors = smoke_vectors(edge.load(build.work / "candidates" / winner), texts)
    return SmokeSet(
        texts=tuple(texts),
        vectors=tuple(tuple(round(float(x), 6) for x in v) for v in vectors),
        min_cosine=SMOKE_MIN_COSINE,
    )


def default_variant(files: dict[str, FileEntry], choice: Choice) -> VariantSpec:
    """The CPU winner as the default variant (certified by the top-level ``certified``)."""
    entry = files[DEFAULT_MODEL_FILE]
    precision = "fp32" if preset(choice.winner).kind == "fp32" else "int8"
    name = default_variant_name(precision)
    return VariantSpec(
        name,
        DEFAULT_MODEL_FILE,
        entry.sha256,
        entry.size,
        precision=precision,
        recipe=choice.winner,
    )


def manifest_for(
    build: Build,
    ref: Reference,
    scored: dict[str, Scores],
    choice: Choice,
    extra: list[BuiltVariant] | None = None,
) -> Manifest:
    """The finished manifest, its version the hash of its content."""
    files = files_of(build.work / "final")
    variants = [default_variant(files, choice), *(b.spec for b in extra or [])]
    metrics = Metrics.from_json(
        {
            **scored[choice.winner].as_dict(),
            "eval_set": ref.eval_set,
            "reference": "fp32 ONNX export of the source model",
            "measured_on": cpu_info(),
        }
    )
    return replace(
        ref.base,
        files=files,
        listed_variants=tuple(variants) if len(variants) > 1 else (),
        quantization=quantization(build, scored, choice),
        metrics=metrics,
        smoke=smoke(build, ref, choice.winner),
        certified={host_kind(): build_host_entry(metrics)},
        source=Source(
            path=str(build.source),
            fingerprint=build.fingerprint,
            tools={p: tool_version(p) for p in TOOLS},
        ),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        precast_version=tool_version("precast"),
    ).versioned()


def write_artifact(
    build: Build,
    ref: Reference,
    scored: dict[str, Scores],
    choice: Choice,
    extra: list[BuiltVariant] | None = None,
) -> OptimizeResult:
    """Copy the winner (and the extra variants' files) into ``final/``, write its manifest,
    rename it into place."""
    final = build.work / "final"
    final.mkdir()
    for name in ("model.onnx", TOKENIZER_FILE):
        shutil.copyfile(build.work / "candidates" / choice.winner / name, final / name)
    for built in extra or []:
        shutil.move(str(built.path), final / built.spec.file)
    manifest = manifest_for(build, ref, scored, choice, extra)
    write_manifest(final, manifest)
    version = manifest.version
    target = build.model_root / version
    if target.exists():  # the very same manifest built before under another fingerprint
        build.progress(f"artifact {version} already present; keeping it")
    else:
        os.rename(final, target)  # atomic on one filesystem: all or nothing
    point_latest(build.model_root, version)
    size = sum(f.size for f in manifest.files.values()) / 1e6
    more = "".join(f", {v.name} {v.size / 1e6:.1f} MB" for v in manifest.variants[1:])
    build.progress(f"wrote {target} ({size:.1f} MB{more})")
    return OptimizeResult(target, read_manifest(target), reused=False)

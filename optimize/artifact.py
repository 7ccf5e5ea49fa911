"""Step 6: write the artifact: winner's files, the full manifest, one atomic rename.

The version is :func:`edge.manifest.manifest_version` of the finished manifest, so the
directory name changes whenever any file or field does.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import edge
from edge.artifact_layout import point_latest
from edge.health import smoke_vectors
from edge.host import host_kind
from edge.manifest import ArtifactManifest, read_manifest
from optimize.certify import build_host_entry
from optimize.evaluate import Scores
from optimize.export import TOKENIZER_FILE
from optimize.graph import count_ops
from optimize.isa import cpu_info
from optimize.recipes import preset
from optimize.steps import Build, Choice, Reference, files_of, write_manifest

SMOKE_TEXTS = 4
SMOKE_MIN_COSINE = 0.99
TOOLS = ("onnxruntime", "optimum", "onnx", "torch")


@dataclass(frozen=True)
class OptimizeResult:
    directory: Path
    manifest: dict[str, Any]
    reused: bool


def tool_version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "absent"


def quantization(build: Build, scored: dict[str, Scores], choice: Choice) -> dict[str, Any]:
    final = build.work / "final"
    return {
        "recipe": choice.winner,
        "settings": preset(choice.winner).describe(),
        "reason": choice.reason,
        "budget_met": choice.budget_met,
        "candidates": {
            n: {**s.as_dict(), "failures": choice.failures[n]} for n, s in scored.items()
        },
        "op_counts": count_ops(final / "model.onnx"),
    }


def smoke(build: Build, ref: Reference, winner: str) -> dict[str, Any]:
    """Known texts and the vectors the artifact gives for them, one text at a time."""
    texts = sorted(ref.eval_texts[:64], key=len)[:SMOKE_TEXTS]
    vectors = smoke_vectors(edge.load(build.work / "candidates" / winner), texts)
    return {
        "texts": texts,
        "vectors": [[round(float(x), 6) for x in v] for v in vectors],
        "min_cosine": SMOKE_MIN_COSINE,
    }


def manifest_for(
    build: Build, ref: Reference, scored: dict[str, Scores], choice: Choice
) -> ArtifactManifest:
    """The finished manifest, its version the hash of its content."""
    return replace(
        ref.base,
        files=files_of(build.work / "final"),
        quantization=quantization(build, scored, choice),
        metrics={
            **scored[choice.winner].as_dict(),
            "eval_set": ref.eval_set,
            "reference": "fp32 ONNX export of the source model",
            "measured_on": cpu_info(),
        },
        smoke=smoke(build, ref, choice.winner),
        certified={host_kind(): build_host_entry(scored[choice.winner].as_dict())},
        source={
            "path": str(build.source),
            "fingerprint": build.fingerprint,
            "tools": {p: tool_version(p) for p in TOOLS},
        },
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        precast_version=tool_version("precast"),
    ).versioned()


def write_artifact(
    build: Build, ref: Reference, scored: dict[str, Scores], choice: Choice
) -> OptimizeResult:
    """Copy the winner into ``final/``, write its manifest, rename it into place."""
    final = build.work / "final"
    final.mkdir()
    for name in ("model.onnx", TOKENIZER_FILE):
        shutil.copyfile(build.work / "candidates" / choice.winner / name, final / name)
    manifest = manifest_for(build, ref, scored, choice)
    write_manifest(final, manifest)
    version = manifest.version
    target = build.model_root / version
    if target.exists():  # the very same manifest built before under another fingerprint
        build.progress(f"artifact {version} already present; keeping it")
    else:
        os.rename(final, target)  # atomic on one filesystem: all or nothing
    point_latest(build.model_root, version)
    size = sum(f.size for f in manifest.files.values()) / 1e6
    build.progress(f"wrote {target} ({size:.1f} MB)")
    return OptimizeResult(target, read_manifest(target).raw, reused=False)

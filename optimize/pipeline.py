"""The optimize pipeline: export -> graph -> quantize each recipe -> evaluate -> select -> write.

Output is ``artifacts/<model>/<version>/`` (model.onnx, tokenizer.json, manifest.json), made
in a private work directory and moved into place with one atomic rename, so a crash or a
failed budget never leaves a half-written artifact. The same inputs (model files, settings,
library versions) reuse the existing artifact instead of rebuilding it. The steps are in
:mod:`optimize.steps` and :mod:`optimize.artifact`; :func:`_build` composes them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import edge
from edge.artifact_layout import point_latest
from edge.manifest import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    read_manifest,
    verify_files,
    version_matches,
)
from optimize import steps, variants
from optimize.artifact import TOOLS, OptimizeResult, tool_version, write_artifact
from optimize.recipes import preset
from optimize.source import model_files
from optimize.steps import Build, Progress, format_report
from precast.project.config import ModelConfig

__all__ = ["OptimizeResult", "find_reusable", "fingerprint", "format_report", "run_optimize"]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fingerprint(model: ModelConfig, source: Path) -> str:
    """Hash of everything that decides the artifact: inputs, settings, tool versions."""
    digest = hashlib.sha256()
    for path in model_files(source):  # desktop.ini, README.md, .git… change nothing
        digest.update(str(path.relative_to(source)).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    settings = {
        "task": model.task,
        "pooling": model.pooling,
        "normalize": model.normalize,
        "max_tokens": model.max_tokens,
        "truncate": model.truncate,
        "limits": [model.limits.max_batch, model.limits.max_chars],
        "accuracy": [
            model.accuracy.min_mean_cosine,
            model.accuracy.min_cosine,
            model.accuracy.min_neighbour_agreement,
        ],
        "optimize": [
            list(model.optimize.recipes),
            model.optimize.max_size_mb,
            model.optimize.calibration_texts,
            model.optimize.eval_texts,
        ],
        "tools": {p: tool_version(p) for p in TOOLS},
        "builder": builder_digest(),
        "format": FORMAT_VERSION,
        "variants": variants.planned(model),
    }
    acc = model.accuracy
    if model.task != "feature-extraction":  # only what a task reads (keeps older fingerprints)
        settings["task_budget"] = [
            acc.min_top1_agreement,
            acc.max_probability_change,
            acc.min_kendall_tau,
        ]
    if model.optimize.eval_file:
        settings["eval_file"] = hashlib.sha256(
            Path(model.optimize.eval_file).read_bytes()
        ).hexdigest()
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()[:24]


def builder_digest() -> str:
    """Hash of this package's own source: a changed build step is a changed input, so an
    artifact built by older optimize code is rebuilt rather than reused."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def find_reusable(model_root: Path, fp: str) -> Path | None:
    """A verified artifact built from the same inputs, whose name is its manifest's hash."""
    if not model_root.is_dir():
        return None
    for candidate in sorted(model_root.iterdir()):
        if not (candidate / MANIFEST_NAME).is_file():
            continue
        try:
            manifest = read_manifest(candidate)
            same_input = manifest.source.fingerprint == fp
            if same_input and version_matches(manifest) and candidate.name == manifest.version:
                verify_files(candidate, manifest)
                return candidate
        except edge.ArtifactError:
            continue
    return None


def run_optimize(
    model: ModelConfig,
    artifacts_dir: Path,
    *,
    force: bool = False,
    rebuild: bool = False,
    progress: Progress = _stderr,
) -> OptimizeResult:
    source = model.source_dir()
    model_root = artifacts_dir / model.name
    fp = fingerprint(model, source)
    if not rebuild:
        reused = find_reusable(model_root, fp)
        if reused is not None:
            progress(f"reusing {reused} (same model files, settings and tool versions)")
            point_latest(model_root, reused.name)
            return OptimizeResult(reused, read_manifest(reused), reused=True)
    model_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".work-", dir=model_root))
    try:
        with _quiet_third_party():
            build = Build(
                model=model,
                source=source,
                model_root=model_root,
                work=work,
                fingerprint=fp,
                progress=progress,
            )
            return _build(build, force=force)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _build(build: Build, *, force: bool) -> OptimizeResult:
    """export -> graph -> reference -> every recipe -> choose -> write."""
    recipes = build.model.optimize.recipes
    extra = variants.planned(build.model)
    build.steps = 5 + len(recipes) + len(extra)
    exported = steps.export(build)
    graphs = steps.graphs(build, exported, also=("fused",) if extra else ())
    ref = steps.reference(build, exported)
    sizes = {
        name: steps.quantize(build, name, graphs[preset(name).graph], ref, exported.tokenizer)
        for name in recipes
    }
    unscored = steps.size_gate(build, sizes, force=force)  # before the minutes of scoring
    build.tick(f"score {len(sizes) - len(unscored)} recipe(s) against fp32 on {ref.eval_set}")
    scored = {
        name: steps.score_candidate(build, name, size, ref)
        for name, size in sizes.items()
        if name not in unscored
    }
    choice = steps.choose(build.model, scored, force=force, unscored=unscored)
    built = variants.build_extra(
        build, ref, fused=graphs.get("fused"), tokenizer=exported.tokenizer,
        winner_tps=scored[choice.winner].texts_per_s,
    )  # fmt: skip
    build.tick(f"write artifact (winner: {choice.winner})")
    return write_artifact(build, ref, scored, choice, built)


@contextlib.contextmanager
def _quiet_third_party() -> Iterator[None]:
    """ORT's quantizer logs a warning per tensor on fused graphs; our progress says enough."""
    import logging
    import warnings

    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)

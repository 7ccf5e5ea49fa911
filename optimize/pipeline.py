"""The optimize pipeline: export -> graph -> quantize each recipe -> evaluate -> select -> write.

Output is ``artifacts/<model>/<version>/`` (model.onnx, tokenizer.json, manifest.json), made
in a private work directory and moved into place with one atomic rename, so a crash or a
failed budget never leaves a half-written artifact. The same inputs (model files, settings,
library versions) reuse the existing artifact instead of rebuilding it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

import edge
from edge.artifact_layout import point_latest
from edge.health import smoke_vectors
from edge.manifest import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    file_entries,
    manifest_version,
    read_manifest,
    verify_files,
    version_matches,
)
from optimize import corpus
from optimize.evaluate import Scores, score
from optimize.export import TOKENIZER_FILE, export_onnx
from optimize.graph import count_ops, optimize_graph
from optimize.isa import cpu_info
from optimize.recipes import apply_recipe, preset
from optimize.select import Budget, select
from precast.config import ModelConfig
from precast.exceptions import AccuracyBudgetError

Progress = Callable[[str], None]
SMOKE_TEXTS = 4


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class OptimizeResult:
    directory: Path
    manifest: dict[str, Any]
    reused: bool


def fingerprint(model: ModelConfig, source: Path) -> str:
    """Hash of everything that decides the artifact: inputs, settings, tool versions."""
    digest = hashlib.sha256()
    for path in sorted(p for p in source.rglob("*") if p.is_file() and ".git" not in p.parts):
        if path.suffix in (".md",) or path.name.startswith("."):
            continue
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
        "tools": {p: _version(p) for p in ("onnxruntime", "optimum", "onnx", "torch")},
        "format": FORMAT_VERSION,
    }
    digest.update(json.dumps(settings, sort_keys=True).encode())
    return digest.hexdigest()[:24]


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "absent"


def find_reusable(model_root: Path, fp: str) -> Path | None:
    if not model_root.is_dir():
        return None
    for candidate in sorted(model_root.iterdir()):
        if not (candidate / MANIFEST_NAME).is_file():
            continue
        try:
            manifest = read_manifest(candidate)
            same_input = manifest.raw.get("source", {}).get("fingerprint") == fp
            if same_input and version_matches(manifest) and candidate.name == manifest.version:
                verify_files(candidate, manifest)
                return candidate
        except edge.ArtifactError:
            continue
    return None


def _write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _base_manifest(model: ModelConfig, dim: int, inputs: list[str]) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "name": model.name,
        "task": model.task,
        "dim": dim,
        "inputs": [{"name": n, "dtype": "int64", "shape": ["batch", "sequence"]} for n in inputs],
        "outputs": [
            {"name": "last_hidden_state", "dtype": "float32", "shape": ["batch", "sequence", dim]}
        ],
        "embedding": {"dtype": "float32", "shape": ["batch", dim]},
        "pooling": model.pooling,
        "normalize": model.normalize,
        "max_tokens": model.max_tokens,
        "limits": {
            "max_batch": model.limits.max_batch,
            "max_chars": model.limits.max_chars,
            "truncate": model.truncate,
        },
    }


def _stage(directory: Path, onnx: Path, tokenizer: Path, base: dict[str, Any]) -> None:
    """Make ``directory`` a loadable artifact (manifest with hashes) around ``onnx``."""
    directory.mkdir(parents=True, exist_ok=True)
    if onnx != directory / "model.onnx":
        shutil.move(str(onnx), directory / "model.onnx")
    shutil.copyfile(tokenizer, directory / TOKENIZER_FILE)
    files = file_entries(directory, ["model.onnx", TOKENIZER_FILE])
    _write_manifest(directory, {**base, "version": "candidate", "files": files})


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
            return OptimizeResult(reused, read_manifest(reused).raw, reused=True)
    model_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".work-", dir=model_root))
    try:
        with _quiet_third_party():
            return _build(model, source, model_root, work, fp, force=force, progress=progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)


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


def _build(
    model: ModelConfig,
    source: Path,
    model_root: Path,
    work: Path,
    fp: str,
    *,
    force: bool,
    progress: Progress,
) -> OptimizeResult:
    settings = model.optimize
    steps = 4 + len(settings.recipes)
    graphs: dict[str, Path] = {}
    step = 0

    def tick(msg: str) -> float:
        nonlocal step
        step += 1
        progress(f"[{step}/{steps}] {msg}")
        return time.perf_counter()

    t = tick(f"export {source.name} -> ONNX (optimum, offline)")
    exported = export_onnx(source, work / "export", task=model.task)
    tokenizer = work / "export" / TOKENIZER_FILE
    progress(f"      {exported.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - t:.1f}s")

    t = tick("graph optimization (ORT transformer fusions)")
    for variant in sorted({preset(n).graph for n in settings.recipes}):
        graphs[variant] = optimize_graph(
            exported,
            work / f"graph-{variant}.onnx",
            source=source,
            fuse_attention=variant == "fused",
        )
        ops = _op_summary(count_ops(graphs[variant]))
        progress(f"      {variant}: {ops} ({time.perf_counter() - t:.1f}s)")

    t = tick(f"reference embeddings: fp32 export on {settings.eval_texts} held-out texts")
    calib_texts, eval_texts = corpus.split(settings.calibration_texts, settings.eval_texts)
    ref_dir = work / "reference"
    import onnx

    inputs = [i.name for i in onnx.load(str(exported), load_external_data=False).graph.input]
    base = _base_manifest(model, 0, inputs)
    _stage(ref_dir, exported, tokenizer, base)
    ref_model = edge.load(ref_dir)
    reference = ref_model.predict(eval_texts, enforce_limits=False)
    dim = int(reference.shape[1])
    base = _base_manifest(model, dim, inputs)
    progress(f"      dim={dim} in {time.perf_counter() - t:.1f}s")

    def calibration_feeds() -> list[dict[str, np.ndarray]]:
        feeds = []
        for enc in ref_model.tokenizer.encode(calib_texts):
            ids = enc.ids[None, :]
            feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
            if "token_type_ids" in inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            feeds.append(feed)
        return feeds

    scored: dict[str, Scores] = {}
    timing_texts = min(len(eval_texts), 128)
    for name in settings.recipes:
        recipe = preset(name)
        t = tick(f"recipe {name}: quantize + score")
        cand = work / "candidates" / name
        cand.mkdir(parents=True)
        out = apply_recipe(
            recipe,
            graphs[recipe.graph],
            cand / "candidate.onnx",
            calibration_feeds=calibration_feeds,
        )
        _stage(cand, out, tokenizer, base)
        s, _ = score(
            edge.load(cand),
            reference,
            eval_texts,
            (cand / "model.onnx").stat().st_size,
            timing_texts=timing_texts,
        )
        scored[name] = s
        progress(
            f"      mean cos {s.mean_cosine:.4f}  min cos {s.min_cosine:.4f}  "
            f"nn {s.neighbour_agreement:.3f}  {s.texts_per_s:.0f} texts/s  "
            f"{s.size_bytes / 1e6:.1f} MB  ({time.perf_counter() - t:.1f}s)"
        )

    budget = Budget(
        model.accuracy.min_mean_cosine,
        model.accuracy.min_cosine,
        model.accuracy.min_neighbour_agreement,
        settings.max_size_mb,
    )
    report: list[dict[str, object]] = [
        {"recipe": n, **s.as_dict(), "failures": budget.failures(s)} for n, s in scored.items()
    ]
    winner, reason = select(scored, budget)
    budget_met = winner is not None
    if winner is None:
        if not force:
            raise AccuracyBudgetError(
                f"no recipe met the budget for {model.name!r} "
                f"(mean cosine >= {budget.min_mean_cosine}, min cosine >= {budget.min_cosine}, "
                f"neighbour agreement >= {budget.min_neighbour_agreement}, "
                f"size <= {budget.max_size_mb} MB). Nothing was written. Relax "
                f"[models.{model.name}.accuracy] / optimize.max_size_mb, or pass --force "
                "to ship the most accurate recipe anyway.\n" + format_report(report),
                report=report,
            )
        winner = max(scored, key=lambda n: scored[n].mean_cosine)
        reason = f"--force: no recipe met the budget; shipped the most accurate ({winner})"
    tick(f"write artifact (winner: {winner})")
    return _write_artifact(
        model,
        source,
        model_root,
        work,
        fp,
        base,
        winner,
        reason,
        budget_met,
        scored,
        {n: budget.failures(s) for n, s in scored.items()},
        eval_texts,
        progress,
    )


def _write_artifact(
    model: ModelConfig,
    source: Path,
    model_root: Path,
    work: Path,
    fp: str,
    base: dict[str, Any],
    winner: str,
    reason: str,
    budget_met: bool,
    scored: dict[str, Scores],
    budget_failures: dict[str, list[str]],
    eval_texts: list[str],
    progress: Progress,
) -> OptimizeResult:
    final = work / "final"
    final.mkdir()
    cand = work / "candidates" / winner
    for name in ("model.onnx", TOKENIZER_FILE):
        shutil.copyfile(cand / name, final / name)
    files = file_entries(final, ["model.onnx", TOKENIZER_FILE])
    recipe = preset(winner)
    smoke_texts = sorted(eval_texts[:64], key=len)[:SMOKE_TEXTS]
    smoke = smoke_vectors(edge.load(cand), smoke_texts)
    win = scored[winner]
    manifest: dict[str, Any] = {
        **base,
        "files": files,
        "quantization": {
            "recipe": winner,
            "settings": recipe.describe(),
            "reason": reason,
            "budget_met": budget_met,
            "candidates": {
                n: {**s.as_dict(), "failures": budget_failures[n]} for n, s in scored.items()
            },
            "op_counts": count_ops(final / "model.onnx"),
        },
        "metrics": {
            **win.as_dict(),
            "eval_set": f"{len(eval_texts)} Python stdlib docstrings (held out from calibration)",
            "reference": "fp32 ONNX export of the source model",
            "measured_on": cpu_info(),
        },
        "smoke": {
            "texts": smoke_texts,
            "vectors": [[round(float(x), 6) for x in v] for v in smoke],
            "min_cosine": 0.99,
        },
        "source": {
            "path": str(source),
            "fingerprint": fp,
            "tools": {p: _version(p) for p in ("onnxruntime", "optimum", "onnx", "torch")},
        },
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "precast_version": _version("precast"),
    }
    version = manifest["version"] = manifest_version(manifest)
    _write_manifest(final, manifest)
    target = model_root / version
    if target.exists():  # the very same manifest built before under another fingerprint
        progress(f"artifact {version} already present; keeping it")
    else:
        os.rename(final, target)  # atomic on one filesystem: all or nothing
    point_latest(model_root, version)
    progress(f"wrote {target} ({sum(f['size'] for f in files.values()) / 1e6:.1f} MB)")
    return OptimizeResult(target, read_manifest(target).raw, reused=False)


def _op_summary(ops: dict[str, int]) -> str:
    top = sorted(ops.items(), key=lambda kv: -kv[1])[:5]
    return ", ".join(f"{k}×{v}" for k, v in top)


def format_report(report: list[dict[str, Any]]) -> str:
    lines = [
        f"{'recipe':<28}{'size MB':>9}{'texts/s':>9}{'mean cos':>10}{'min cos':>9}{'nn agr':>8}  "
        "verdict"
    ]
    for r in report:
        verdict = "ok" if not r["failures"] else "; ".join(r["failures"])
        lines.append(
            f"{r['recipe']:<28}{r['size_bytes'] / 1e6:>9.1f}{r['texts_per_s']:>9.0f}"
            f"{r['mean_cosine']:>10.4f}{r['min_cosine']:>9.4f}{r['neighbour_agreement']:>8.3f}  "
            f"{verdict}"
        )
    return "\n".join(lines)

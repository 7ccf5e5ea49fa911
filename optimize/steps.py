"""The build steps, each a small function with typed inputs and outputs.

export -> graph -> reference -> quantize every recipe -> size gate -> score the recipes
within the size budget -> choose; the last step, write, lives in :mod:`optimize.artifact`.
:func:`optimize.pipeline._build` composes them inside a private work directory.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

import edge
from edge.manifest import (
    MANIFEST_NAME,
    FileEntry,
    LimitsSpec,
    Manifest,
    TensorSpec,
    file_entries,
)
from edge.model import EdgeModel
from optimize import corpus
from optimize.evaluate import EvalInputs, Scores, run_task, score
from optimize.exceptions import AccuracyBudgetError, ModelSourceError
from optimize.export import TOKENIZER_FILE, check_weights, export_onnx, write_tokenizer
from optimize.graph import count_ops, fused_ops, optimize_graph
from optimize.recipes import apply_recipe, preset
from optimize.select import Budget, accuracy_of, closest, most_accurate, over_size, select
from optimize.source import SourceModel, inspect_source
from precast.project.config import ModelConfig
from precast.project.exceptions import ConfigError

Progress = Callable[[str], None]
Feeds = list[dict[str, np.ndarray]]
TIMING_TEXTS = 128
NOTES_FILE = "recipe.json"  # what a recipe decided on this model (candidates/<name>/)


@dataclass
class Build:
    """One build: the model's settings, its source, where it happens, how it reports."""

    model: ModelConfig
    source: Path
    model_root: Path
    work: Path
    fingerprint: str
    progress: Progress
    steps: int = 0
    fusions: dict[str, Any] = field(default_factory=dict)  # the manifest's record, step 2
    _step: int = field(default=0, repr=False)

    def tick(self, message: str) -> float:
        """Print ``[n/N] message`` and return the step's start time."""
        self._step += 1
        self.progress(f"[{self._step}/{self.steps}] {message}")
        return time.perf_counter()

    def done(self, started: float, detail: str) -> None:
        self.progress(f"      {detail} ({time.perf_counter() - started:.1f}s)")


@dataclass(frozen=True)
class Exported:
    onnx: Path
    tokenizer: Path
    inputs: list[str]
    source: SourceModel


@dataclass(frozen=True)
class Reference:
    """The fp32 export's vectors on the held-out texts, and the manifest base around it."""

    model: EdgeModel
    vectors: np.ndarray
    eval_texts: list[str]
    calibration_texts: list[str]
    base: Manifest
    eval_inputs: EvalInputs = ()  # what candidates run: eval_texts, or (query, passage) pairs
    eval_set: str = ""


@dataclass(frozen=True)
class Choice:
    winner: str
    reason: str
    budget_met: bool
    failures: dict[str, list[str]]
    # recipes over max_size_mb right after quantizing: never scored (name -> size in bytes)
    unscored: dict[str, int] = field(default_factory=dict)


def base_manifest(model: ModelConfig, dim: int, inputs: list[str], source: SourceModel) -> Manifest:
    """The manifest fields that come from the config, the model's files and the graph.
    The config wins where it sets pooling / normalize; ``max_tokens`` is capped by the
    positions the model can embed."""
    embeds = model.task == "feature-extraction"
    output = (
        TensorSpec("last_hidden_state", "float32", ("batch", "sequence", dim))
        if embeds
        else TensorSpec("logits", "float32", ("batch", dim))
    )
    pooling = model.pooling or source.pooling or "mean"
    too_big = [d for d in model.truncate_dims if d >= dim]
    if dim and too_big:  # dim 0: the placeholder before the graph has run
        raise ConfigError(
            f"[models.{model.name}] truncate_dims {too_big}: each size must be smaller "
            f"than the model's {dim}-d embeddings"
        )
    normalize = model.normalize if model.normalize is not None else source.normalize
    return Manifest(
        name=model.name,
        task=model.task,
        dim=dim,
        inputs=tuple(TensorSpec(n, "int64", ("batch", "sequence")) for n in inputs),
        outputs=(output,),
        pooling=pooling,
        normalize=embeds and (normalize is None or normalize),
        max_tokens=min(model.max_tokens, source.max_positions),
        limits=LimitsSpec(model.limits.max_batch, model.limits.max_chars, model.truncate),
        prompts=source.prompts if embeds else {},
        default_prompt_name=source.default_prompt_name if embeds else "",
        labels=source.labels,
        problem_type=source.problem_type,
        truncate_dims=tuple(sorted(model.truncate_dims, reverse=True)) if dim else (),
    )


def files_of(directory: Path) -> dict[str, FileEntry]:
    entries = file_entries(directory, ["model.onnx", TOKENIZER_FILE])
    return {n: FileEntry(sha256=e["sha256"], size=e["size"]) for n, e in entries.items()}


def write_manifest(directory: Path, manifest: Manifest) -> None:
    doc = json.dumps(manifest.to_json(), indent=2, sort_keys=True)
    (directory / MANIFEST_NAME).write_text(doc + "\n")


def stage(directory: Path, onnx: Path, tokenizer: Path, base: Manifest) -> None:
    """Make ``directory`` a loadable artifact (manifest with hashes) around ``onnx``."""
    directory.mkdir(parents=True, exist_ok=True)
    if onnx != directory / "model.onnx":
        shutil.move(str(onnx), directory / "model.onnx")
    shutil.copyfile(tokenizer, directory / TOKENIZER_FILE)
    write_manifest(directory, replace(base, files=files_of(directory), version="candidate"))


def export(build: Build) -> Exported:
    """Step 1: the source model -> ONNX with optimum (offline)."""
    import onnx

    started = build.tick(f"export {build.source.name} -> ONNX (optimum, offline)")
    source = inspect_source(build.source)
    if source.task != build.model.task:
        raise ModelSourceError(
            f"is a {source.task} model ({source.architecture}) but [models."
            f"{build.model.name}] says task = {build.model.task!r}; set task = "
            f"{source.task!r}",
            path=str(build.source),
        )
    check_weights(source)
    exported = export_onnx(build.source, build.work / "export", task=build.model.task)
    max_tokens = min(build.model.max_tokens, source.max_positions)
    tokenizer = write_tokenizer(source, build.work / "export", max_tokens=max_tokens)
    graph = onnx.load(str(exported), load_external_data=False).graph
    build.done(started, f"{exported.stat().st_size / 1e6:.1f} MB")
    return Exported(exported, tokenizer, [i.name for i in graph.input], source)


def graphs(build: Build, exported: Exported, *, also: tuple[str, ...] = ()) -> dict[str, Path]:
    """Step 2: ORT transformer fusions, once per graph variant the recipes (and ``also``:
    the extra model variants) need. What each variant fused goes to ``build.fusions``
    (the manifest's ``quantization.fusions``)."""
    started = build.tick("graph optimization (ORT transformer fusions)")
    out: dict[str, Path] = {}
    nodes = sum(count_ops(exported.onnx).values())
    build.fusions = {"model_type": exported.source.model_type, "export_nodes": nodes}
    for variant in sorted({preset(n).graph for n in build.model.optimize.recipes} | set(also)):
        if variant == "export":  # standard ONNX ops only (NNCF knows no ORT contrib ops)
            out[variant] = Path(shutil.copyfile(exported.onnx, build.work / "graph-export.onnx"))
            continue
        out[variant] = optimize_graph(
            exported.onnx,
            build.work / f"graph-{variant}.onnx",
            source=build.source,
            fuse_attention=variant == "fused",
        )
        ops = count_ops(out[variant])
        build.fusions[variant] = {"fused": fused_ops(ops), "nodes": sum(ops.values())}
        build.done(started, f"{variant}: {fusion_summary(ops, nodes)}")
    return out


def reference(build: Build, exported: Exported) -> Reference:
    """Step 3: the fp32 export's vectors on the held-out texts (what candidates match)."""
    settings = build.model.optimize
    started = build.tick(f"reference outputs: fp32 export on {settings.eval_texts} texts")
    calibration, held_out = corpus.split(settings.calibration_texts, settings.eval_texts)
    eval_set = f"{len(held_out)} Python stdlib docstrings (held out from calibration)"
    if settings.eval_file:
        held_out = corpus.read_eval_file(Path(settings.eval_file))
        eval_set = f"{len(held_out)} texts of {Path(settings.eval_file).name}"
    task = build.model.task
    eval_inputs: EvalInputs = corpus.ranking_pairs(held_out) if task == "text-ranking" else held_out
    ref_dir = build.work / "reference"
    # a placeholder dim and labels until the graph has been run once
    first = base_manifest(build.model, 0, exported.inputs, exported.source)
    stage(ref_dir, exported.onnx, exported.tokenizer, first)
    model = edge.load(ref_dir)
    vectors = run_task(model, eval_inputs)
    dim = int(model.predict(held_out[:1], enforce_limits=False).shape[1])
    build.done(started, f"dim={dim}")
    base = base_manifest(build.model, dim, exported.inputs, exported.source)
    return Reference(
        model,
        vectors,
        eval_texts=held_out,
        calibration_texts=calibration,
        base=base,
        eval_inputs=eval_inputs,
        eval_set=eval_set,
    )


def calibration_feeds(ref: Reference, inputs: list[str]) -> Feeds:
    """Tokenized calibration texts, one feed per text, for the static recipe."""
    feeds: Feeds = []
    for enc in ref.model.tokenizer.encode(ref.calibration_texts):
        ids = enc.ids[None, :]
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if "token_type_ids" in inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        feeds.append(feed)
    return feeds


def calibration_gate(build: Build, ref: Reference, tokenizer: Path) -> Callable[[Path], list[str]]:
    """The accuracy failures of a model file on the calibration texts (never the held-out
    evaluation texts), against the fp32 export's outputs on them; size is not judged."""
    inputs: EvalInputs = ref.calibration_texts
    if ref.base.task == "text-ranking":
        inputs = corpus.ranking_pairs(ref.calibration_texts)
    expected: list[np.ndarray] = []

    def failures(onnx_file: Path) -> list[str]:
        if not expected:
            expected.append(run_task(ref.model, inputs))
        probe = build.work / "probe"
        shutil.rmtree(probe, ignore_errors=True)
        shutil.copyfile(onnx_file, build.work / "probe.onnx")
        stage(probe, build.work / "probe.onnx", tokenizer, ref.base)
        s, _ = score(edge.load(probe), expected[0], inputs, 0, timing_texts=0, task=ref.base.task)
        return [f for f in budget_of(build.model).failures(s) if not f.startswith("size")]

    return failures


def quantize(build: Build, name: str, graph: Path, ref: Reference, tokenizer: Path) -> int:
    """Step 4 for one recipe: quantize and stage it as an artifact; its size in bytes."""
    started = build.tick(f"recipe {name}: quantize")
    cand = build.work / "candidates" / name
    cand.mkdir(parents=True)
    inputs = [t.name for t in ref.base.inputs]
    notes: dict[str, Any] = {}
    out = apply_recipe(
        preset(name),
        graph,
        cand / "candidate.onnx",
        calibration_feeds=lambda: calibration_feeds(ref, inputs),
        gate=calibration_gate(build, ref, tokenizer),
        notes=notes,
    )
    stage(cand, out, tokenizer, ref.base)
    (cand / NOTES_FILE).write_text(json.dumps(notes, sort_keys=True))
    size = (cand / "model.onnx").stat().st_size
    build.done(started, f"{size / 1e6:.1f} MB")
    return size


def size_gate(build: Build, sizes: dict[str, int], *, force: bool) -> dict[str, int]:
    """Step 5: the recipes over ``max_size_mb``, decided before any is scored (the minutes
    of a build). Every recipe over it fails now, naming the closest, unless ``force``
    (then all are scored, to ship the most accurate)."""
    model = build.model
    over = over_size(sizes, model.optimize.max_size_mb)
    if len(over) < len(sizes):
        for name, size in over.items():
            build.progress(f"      {name}: {size / 1e6:.1f} MB > max_size_mb: not scored")
        return over
    if force:
        return {}
    report: list[dict[str, object]] = [
        {"recipe": n, "size_bytes": size, "failures": [size_failure(size, model)]}
        for n, size in sizes.items()
    ]
    raise AccuracyBudgetError(
        f"no recipe fits [models.{model.name}.optimize] max_size_mb = "
        f"{model.optimize.max_size_mb:g} (checked after quantizing, before scoring); "
        f"{closest(budget_of(model), model.name, sizes, {})}, or "
        "remove max_size_mb (no size limit). Nothing was written.\n" + format_report(report),
        report=report,
    )


def size_failure(size: int, model: ModelConfig) -> str:
    return f"size {size / 1e6:.1f} MB > {model.optimize.max_size_mb} MB"


def score_candidate(build: Build, name: str, size: int, ref: Reference) -> Scores:
    """Step 6 for one recipe within the size budget: score it through edge/ against fp32."""
    started = time.perf_counter()
    cand = build.work / "candidates" / name
    timing = min(len(ref.eval_texts), TIMING_TEXTS)
    s, _ = score(
        edge.load(cand), ref.vectors, ref.eval_inputs, size, timing_texts=timing, task=ref.base.task
    )
    build.done(
        started,
        f"{name}: {accuracy_of(s, ref.base.task)}  {s.texts_per_s:.0f} texts/s  "
        f"{s.size_bytes / 1e6:.1f} MB",
    )
    return s


def budget_of(model: ModelConfig) -> Budget:
    acc = model.accuracy
    return Budget(
        acc.min_mean_cosine,
        acc.min_cosine,
        acc.min_neighbour_agreement,
        model.optimize.max_size_mb,
        task=model.task,
        min_top1_agreement=acc.min_top1_agreement,
        max_probability_change=acc.max_probability_change,
        min_kendall_tau=acc.min_kendall_tau,
    )


def choose(
    model: ModelConfig,
    scored: dict[str, Scores],
    *,
    force: bool,
    unscored: dict[str, int] | None = None,
) -> Choice:
    """Step 7: the selection rule; nothing passing is an error unless ``force``.
    ``unscored``: the recipes the size gate dropped (name -> bytes), reported as such."""
    unscored = unscored or {}
    budget = budget_of(model)
    failures = {n: budget.failures(s) for n, s in scored.items()}
    failures |= {n: [size_failure(size, model) + " (not scored)"] for n, size in unscored.items()}
    winner, reason = select(scored, budget)
    if winner is not None:
        if unscored:
            reason += "; not scored, over max_size_mb: " + ", ".join(
                f"{n} ({size / 1e6:.1f} MB)" for n, size in unscored.items()
            )
        return Choice(winner, reason, True, failures, unscored)
    report: list[dict[str, object]] = [
        {"recipe": n, **s.as_dict(), "failures": failures[n]} for n, s in scored.items()
    ]
    report += [{"recipe": n, "size_bytes": b, "failures": failures[n]} for n, b in unscored.items()]
    if not force:
        size = f", size <= {budget.max_size_mb} MB" if budget.max_size_mb is not None else ""
        sizes = {n: s.size_bytes for n, s in scored.items()} | unscored
        raise AccuracyBudgetError(
            f"no recipe met the budget for {model.name!r} ({budget.describe()}{size}). "
            f"Nothing was written. "
            f"{closest(budget, model.name, sizes, scored)}; "
            f"relax [models.{model.name}.accuracy] / optimize.max_size_mb, or pass --force "
            "to ship the most accurate recipe anyway.\n" + format_report(report),
            report=report,
        )
    best = most_accurate(scored, model.task)
    reason = f"--force: no recipe met the budget; shipped the most accurate ({best})"
    return Choice(best, reason, False, failures, unscored)


def fusion_summary(ops: dict[str, int], export_nodes: int) -> str:
    """``fused MultiHeadAttention×12, SkipLayerNormalization×25, ...; 195 nodes (export 948)``"""
    fused = fused_ops(ops)
    what = ", ".join(f"{k}×{v}" for k, v in fused.items()) if fused else "nothing"
    return f"fused {what}; {sum(ops.values())} nodes (export {export_nodes})"


def format_report(report: list[dict[str, Any]]) -> str:
    lines = [
        f"{'recipe':<28}{'size MB':>9}{'texts/s':>9}{'mean cos':>10}{'min cos':>9}{'nn agr':>8}  "
        "verdict"
    ]
    for r in report:
        verdict = "ok" if not r["failures"] else "; ".join(r["failures"])
        if "texts_per_s" not in r:  # over max_size_mb: quantized, never scored
            dashes = f"{'-':>9}{'-':>10}{'-':>9}{'-':>8}"
            lines.append(f"{r['recipe']:<28}{r['size_bytes'] / 1e6:>9.1f}{dashes}  {verdict}")
            continue
        lines.append(
            f"{r['recipe']:<28}{r['size_bytes'] / 1e6:>9.1f}{r['texts_per_s']:>9.0f}"
            f"{r['mean_cosine']:>10.4f}{r['min_cosine']:>9.4f}{r['neighbour_agreement']:>8.3f}  "
            f"{verdict}"
        )
    return "\n".join(lines)

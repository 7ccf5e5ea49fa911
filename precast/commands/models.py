"""``precast models add NAME --source DIR``: bring your own model into precast.toml.

Reads the directory's own files (``optimize.source``) as sentence-transformers does: a
sentence-transformers save's modules decide the task (Transformer + Pooling embeds, a
CrossEncoder ranks or classifies), whatever head ``config.json`` names; a plain
transformers directory's ``config.json`` decides it (a base model, or a ``…ForMaskedLM`` /
``…ForPreTraining`` checkpoint, embeds; ``…ForSequenceClassification`` classifies, with
``id2label`` and ``problem_type``; one label is a cross-encoder that ranks). Pooling,
normalization and prompts come from the sentence-transformers files, ``max_tokens`` from
the length the model is used at (``max_seq_length``) capped by its positions; the weights
are checked to load. Stray files (desktop.ini, README.md, .git) are ignored. Writes a
commented ``[models.NAME]`` table (validated by the same schema every command loads), with
the size budget as a comment sized from the model's fp32 weights, and says what it found.
``--eval-file texts.jsonl`` (``{"text": ...}`` per line) makes the accuracy gate score
recipes on your text instead of the built-in corpus.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from precast.project.exceptions import ConfigError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# an int8 artifact's share of the fp32 weights: int8 weights are a quarter, plus scales,
# the graph and what stays fp32 (LayerNorms, biases); MiniLM 23 of 91 MB, MPNet 110 of 438
INT8_SHARE = 0.3


def register(sub: Any) -> None:
    p = sub.add_parser(
        "models",
        help="add your own model directory to precast.toml (detects task, pooling, prompts)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="inspect a model directory and write its entry")
    add.add_argument("name", help="the [models.NAME] table to write (letters, digits, - and _)")
    add.add_argument("--source", required=True, help="a local model directory")
    add.add_argument(
        "--eval-file", help="JSONL with a 'text' per line: the accuracy gate's evaluation set"
    )
    add.set_defaults(func=add_model)


def _toml(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string / bool / int is TOML too


def entry(name: str, source: str, found: Any, eval_file: str | None) -> str:
    """The commented ``[models.NAME]`` table for ``found`` (an ``optimize.source.SourceModel``)."""
    length = (
        f"{found.length_from} {found.max_seq_length}"
        if found.max_seq_length
        else "the model names no length: precast's default"
    )
    lines = [
        f"[models.{name}]",
        f"source = {_toml(source)}",
        f"task = {_toml(found.task)}  # detected: {found.architecture}; {found.task_from}",
        f"max_tokens = {found.default_max_tokens()}  # {length}; "
        f"the model embeds {found.max_positions} positions",
        "truncate = true  # false: refuse texts over max_tokens (422) instead of cutting them",
    ]
    if found.task == "feature-extraction":
        origin = "1_Pooling/config.json" if found.pooling else "no sentence-transformers modules"
        lines.append(
            f"# pooling = {_toml(found.pooling or 'mean')}  # from {origin}; set to override"
        )
        lines.append(
            f"# normalize = {_toml(bool(found.normalize))}  # "
            + ("a Normalize module" if found.normalize else "no Normalize module")
            + "; set to override"
        )
        if found.prompts:
            named = ", ".join(f"{k}={v!r}" for k, v in sorted(found.prompts.items()))
            lines.append(f"# prompts (request prompt_name): {named}")
    if found.labels:
        lines.append(f"# labels: {', '.join(found.labels)} ({found.problem_type})")
    lines.append(f"[models.{name}.optimize]")
    if eval_file:
        lines.append(f"eval_file = {_toml(eval_file)}")
    lines.append(engines_line(openvino_here()))
    lines.append(size_budget_comment(found.fp32_bytes))
    return "\n".join(lines) + "\n"


def openvino_here() -> bool:
    """OpenVINO can gate variants on this build host: x86 with precast[openvino] installed."""
    import platform

    from edge.engines import OPENVINO, installed_engines

    return platform.machine().lower() in ("x86_64", "amd64") and OPENVINO in installed_engines()


def engines_line(openvino: bool) -> str:
    """The engines to gate: OpenVINO's variants too where it is installed on an x86 build
    host (they ship only when measured faster than the ONNX Runtime winner)."""
    if openvino:
        return (
            'engines = ["onnxruntime", "openvino"]  # OpenVINO variants (int8, NNCF int8, '
            "bf16) are gated too; shipped only if faster than the ONNX Runtime winner"
        )
    return '# engines = ["onnxruntime", "openvino"]  # needs x86 and pip install precast[openvino]'


def size_budget_comment(fp32_bytes: int) -> str:
    """The size budget, commented out (unset: no limit), sized from the model's weights."""
    lines = ["# max_size_mb: unset is no size limit; set one when a host limits the download"]
    if not fp32_bytes:
        return "\n".join([*lines, "# max_size_mb = 25"])
    fp32 = fp32_bytes / 1e6
    return "\n".join(
        [
            *lines,
            f"# (fp32 weights {fp32:.1f} MB; its int8 recipes ≈ {fp32 / 4:.0f} MB)",
            f"# max_size_mb = {math.ceil(fp32 * INT8_SHARE)}",
        ]
    )


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path.resolve())


def add_model(args: argparse.Namespace) -> int:
    from edge.environment import PRECAST_CONFIG
    from optimize import corpus
    from optimize.export import check_weights
    from optimize.source import inspect_source
    from precast.project.config import CONFIG_FILENAME, parse_config

    if not _NAME.fullmatch(args.name):
        raise ConfigError(f"model name {args.name!r}: use letters, digits, '-' and '_'")
    path = Path(args.config or PRECAST_CONFIG.read() or CONFIG_FILENAME).resolve()
    found = inspect_source(Path(args.source).expanduser())
    check_weights(found)  # a checkpoint that would load random weights is refused now
    before = path.read_text(encoding="utf-8") if path.exists() else ""
    existing = tomllib.loads(before) if before else {}
    if args.name in existing.get("models", {}):
        raise ConfigError(f"[models.{args.name}] exists already; pick another name", path=str(path))
    eval_file = None
    if args.eval_file:
        corpus.read_eval_file(Path(args.eval_file))  # refused now, not at optimize time
        eval_file = _relative(Path(args.eval_file), path.parent)
    text = entry(args.name, _relative(found.path, path.parent), found, eval_file)
    after = (before.rstrip("\n") + "\n\n" if before else "") + text
    parse_config(tomllib.loads(after), path)  # the schema every command loads with
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".precast.toml.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(after)
    os.replace(tmp, path)
    print(f"detected in {found.path}:")
    for line in found.detected():
        print(f"  {line}")
    print(f"wrote [models.{args.name}] to {path}")
    print(f"next: precast optimize {args.name}")
    return 0

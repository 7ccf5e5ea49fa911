"""``precast models add NAME --source DIR``: bring your own model into precast.toml.

Reads the directory's own files (``optimize.source``): architecture and task from
``config.json`` (a base model embeds; ``…ForSequenceClassification`` classifies, with
``id2label`` and ``problem_type``; one label is a cross-encoder that ranks), pooling,
normalization and prompts from the sentence-transformers files, the positions the model
can embed. Writes a commented ``[models.NAME]`` table (validated by the same schema every
command loads) and says what it found. ``--eval-file texts.jsonl`` (``{"text": ...}`` per
line) makes the accuracy gate score recipes on your text instead of the built-in corpus.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from precast.exceptions import ConfigError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


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
    max_tokens = min(256, found.max_positions, found.max_seq_length or found.max_positions)
    lines = [
        f"[models.{name}]",
        f"source = {_toml(source)}",
        f"task = {_toml(found.task)}  # detected: {found.architecture}",
        f"max_tokens = {max_tokens}  # the model embeds {found.max_positions} positions"
        + (
            f"; sentence-transformers max_seq_length {found.max_seq_length}"
            if found.max_seq_length
            else ""
        ),
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
    if eval_file:
        lines += [f"[models.{name}.optimize]", f"eval_file = {_toml(eval_file)}"]
    return "\n".join(lines) + "\n"


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path.resolve())


def add_model(args: argparse.Namespace) -> int:
    from edge.environment import PRECAST_CONFIG
    from optimize import corpus
    from optimize.source import inspect_source
    from precast.config import CONFIG_FILENAME, parse_config

    if not _NAME.fullmatch(args.name):
        raise ConfigError(f"model name {args.name!r}: use letters, digits, '-' and '_'")
    path = Path(args.config or PRECAST_CONFIG.read() or CONFIG_FILENAME).resolve()
    found = inspect_source(Path(args.source).expanduser())
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

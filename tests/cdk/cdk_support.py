"""Helpers shared by the CDK tests (a plain module: test files import it by name)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# jsii prints a banner for every process on an end-of-life Node; keep test output readable.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")

REPO = Path(__file__).resolve().parents[2]
REGISTRY_IMAGE = "public.ecr.aws/docker/library/python:3.12-slim"


@dataclass
class Synthesized:
    """A synthesized app: the stack object, its template, and the cloud assembly dir."""

    stack: Any
    template: dict[str, Any]
    outdir: Path
    error: str | None  # the ValidationFailed message if a validation plugin failed

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.template["Resources"].items() if r["Type"] == type_}

    def one(self, type_: str) -> dict[str, Any]:
        found = list(self.resources(type_).values())
        assert len(found) == 1, f"expected one {type_}, found {len(found)}"
        return found[0]["Properties"]  # type: ignore[no-any-return]


CERTIFIED_BOTH = ("aarch64", "x86_64-avx512-vnni")


def make_lambda_asset(directory: Path, certified: tuple[str, ...] = CERTIFIED_BOTH) -> Path:
    """A tiny stand-in for ``dist/lambda/<model>-<arch>/``: a handler, and an artifact
    manifest carrying only the certification record synth checks (``certified``: what
    `precast optimize MODEL --certify arm64` on an x86 host writes)."""
    (directory / "functions").mkdir(parents=True, exist_ok=True)
    (directory / "functions" / "__init__.py").write_text("", encoding="utf-8")
    (directory / "functions" / "lambda_handler.py").write_text(
        "def handler(event, context):\n    return {'statusCode': 200, 'body': 'stub'}\n",
        encoding="utf-8",
    )
    (directory / "artifact").mkdir(exist_ok=True)
    manifest = {
        "format_version": 1,
        "name": "m",
        "version": "0123456789abcdef",
        "task": "feature-extraction",
        "pooling": "mean",
        "max_tokens": 128,
        "inputs": ["input_ids", "attention_mask"],
        "outputs": [{"name": "last_hidden_state"}],
        "files": {
            "model.onnx": {"sha256": "a" * 64, "size": 1},
            "tokenizer.json": {"sha256": "b" * 64, "size": 1},
        },
        "certified": {kind: {"mean_cosine": 0.99, "min_cosine": 0.95} for kind in certified},
    }
    (directory / "artifact" / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return directory


def synthesize(context: dict[str, Any], outdir: Path) -> Synthesized:
    """Build and synth like ``cdk synth`` would; keep going if a validation plugin fails."""
    from cdk.app import build_app

    app, stack = build_app(context, outdir=str(outdir))
    error: str | None = None
    try:
        app.synth()
    except RuntimeError as exc:  # cdk-nag / CloudFormation validation failure
        error = str(exc)
    template_path = outdir / f"{stack.stack_name}.template.json"
    template = json.loads(template_path.read_text(encoding="utf-8"))
    return Synthesized(stack=stack, template=template, outdir=outdir, error=error)

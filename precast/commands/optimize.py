"""``precast optimize MODEL``: export, quantize with every recipe, measure, keep the best."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge.manifest import Manifest


def register(sub: Any) -> None:
    p = sub.add_parser(
        "optimize",
        help="build a quantized, measured ONNX artifact for a model",
        description=(
            "Export MODEL (a [models.MODEL] table in precast.toml) to ONNX with optimum, apply\n"
            "graph fusions, quantize with every recipe in optimize.recipes, score each against\n"
            "the fp32 reference on held-out real text (Python stdlib docstrings), and write the\n"
            "fastest recipe inside the accuracy budget to artifacts/MODEL/<version>/.\n"
            "Unchanged inputs reuse the existing artifact. Nothing is downloaded."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", nargs="?", help="model name from precast.toml (e.g. minilm)")
    p.add_argument("--all", action="store_true", help="optimize every model in precast.toml")
    p.add_argument(
        "--force",
        action="store_true",
        help="write the most accurate recipe even if none meets the budget (marked in manifest)",
    )
    p.add_argument("--rebuild", action="store_true", help="ignore a reusable artifact")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    p.add_argument(
        "--certify",
        action="append",
        choices=["arm64"],
        default=[],
        metavar="HOST",
        help="also certify for HOST (arm64: run the real arm64 Lambda asset under qemu on 200 "
        "held-out texts; a few minutes; needs apt-get and dpkg) and record it in the manifest",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from optimize.pipeline import format_report, run_optimize
    from precast.project.config import load_config
    from precast.project.exceptions import ConfigError

    cfg = load_config(args.config)
    if args.all:
        names = list(cfg.models)
    elif args.model:
        names = [args.model]
    else:
        raise ConfigError("name a model (e.g. `precast optimize minilm`) or pass --all")
    for name in names:
        result = run_optimize(
            cfg.model(name), cfg.artifacts_dir, force=args.force, rebuild=args.rebuild
        )
        if args.certify:
            result = _certify(result, cfg.model(name), args.certify)
        m = result.manifest
        if args.json:
            print(json.dumps(m.to_json(), indent=2))
            continue
        print_summary(m, str(result.directory), reused=result.reused, fmt=format_report)
    return 0


def _certify(result: Any, model_cfg: Any, targets: list[str]) -> Any:
    from edge.manifest import read_manifest
    from optimize.artifact import OptimizeResult
    from optimize.certify import certify_artifact
    from optimize.emulation import EmulationError
    from precast.project.exceptions import ConfigError

    try:
        directory, _ = certify_artifact(result.directory, model_cfg, targets)
    except EmulationError as exc:
        raise ConfigError(f"--certify failed: {exc}") from None
    certified = ", ".join(sorted(read_manifest(directory).certified))
    print(f"certified {directory.name} for: {certified}")
    return OptimizeResult(directory, read_manifest(directory), reused=result.reused)


def print_summary(m: Manifest, directory: str, *, reused: bool, fmt: Any) -> None:
    q = m.quantization
    candidates = q.candidates or {}
    report = [{"failures": [], **s, "recipe": n} for n, s in candidates.items()]
    measured_on = m.metrics.measured_on or {}
    print(f"\n{m.name} {m.version}  ({'reused' if reused else 'built'}: {directory})")
    print(f"measured on: {measured_on['cpu']} ISA {' '.join(measured_on['isa']) or '-'}")
    print(fmt(report))
    print(f"winner: {q.recipe} — {q.reason}")

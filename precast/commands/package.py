"""``precast package lambda MODEL``: build the Lambda zip asset for a model's latest artifact."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "package",
        help="build a deployable asset (Lambda zip) for a model",
        description=(
            "Build dist/lambda/MODEL-ARCH/ and MODEL-ARCH.zip: manylinux wheels for the target\n"
            "Python and architecture (onnxruntime, numpy, tokenizers, starlette, mangum,\n"
            "powertools; boto3 comes with the Lambda runtime), the edge/ and functions/ code,\n"
            "and the artifact under artifact/. Prints the unzipped size against Lambda's\n"
            "250 MB limit and fails if it is over. Refuses an artifact not certified for the\n"
            "architecture (`precast optimize MODEL --certify arm64`) unless [models.MODEL.lambda]\n"
            "allow_uncertified = true. --python local builds for this interpreter\n"
            "(to import and invoke the asset here)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("target", choices=["lambda"], help="what to package (lambda)")
    p.add_argument("model", help="model name from precast.toml")
    p.add_argument(
        "--arch",
        choices=["x86_64", "arm64"],
        default=None,
        help="Lambda architecture (default: [models.MODEL.lambda] architecture)",
    )
    p.add_argument(
        "--python",
        default=None,
        help="Lambda Python version, or 'local' for this interpreter "
        "(default: [models.MODEL.lambda] python)",
    )
    p.add_argument("--out", default=None, help="output directory (default: <dist_dir>/lambda)")
    p.add_argument("--no-zip", action="store_true", help="build the directory only")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from edge.artifact_layout import latest_artifact
    from edge.manifest import read_manifest
    from precast.project.config import load_config
    from precast.project.lambda_asset import build_lambda_asset, check_certified

    cfg = load_config(args.config)
    model = cfg.model(args.model)
    python = args.python or model.lambda_.python
    arch = "local" if python == "local" else (args.arch or model.lambda_.architecture)
    out = Path(args.out) if args.out else cfg.dist_dir / "lambda"
    artifact = latest_artifact(cfg.artifacts_dir, model.name)
    warning = check_certified(
        model.name,
        read_manifest(artifact),
        arch,
        allow_uncertified=model.lambda_.allow_uncertified,
    )
    if warning:
        print(warning, file=sys.stderr)
    report = build_lambda_asset(
        model.name,
        artifact,
        out,
        arch=arch,
        python=python,
        make_zip=not args.no_zip,
    )
    print(report.summary())
    return 0

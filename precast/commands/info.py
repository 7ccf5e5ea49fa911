"""``precast info [MODEL|PATH]``: which variant runs on this host, why, and its certification."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "info",
        help="load a model here and say which variant runs, why, and where it is certified",
        description=(
            "Load a model's latest artifact (or an artifact directory / bundle) the way every\n"
            "host does, and print this host's kind, the variant chosen (engine, provider,\n"
            "precision, file) and why, the variants skipped and why, the execution plan, and\n"
            "whether the chosen variant was certified on this kind of host."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="model name from precast.toml, or an artifact dir / bundle path")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def describe(model: Any) -> dict[str, Any]:
    """What ``precast info`` prints, as data."""
    from edge.host import describe_host

    return {
        "name": model.name,
        "version": model.version,
        "directory": str(model.directory),
        "host": describe_host(),
        "variant": model.variant.as_dict() if model.variant is not None else None,
        "variants": [v.name for v in model.manifest.variants],
        "providers": model.providers,
        "plan": model.plan.describe(),
        "certification": model.certification.describe(),
        "certified": model.certified,
    }


def run(args: argparse.Namespace) -> int:
    import edge

    path = Path(args.model)
    if not path.exists():
        from edge.artifact_layout import latest_artifact
        from precast.project.config import load_config

        cfg = load_config(args.config)
        path = latest_artifact(cfg.artifacts_dir, cfg.model(args.model).name)
    model = edge.load(path)
    info = describe(model)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['name']} {info['version']}  ({info['directory']})")
    print(f"host:          {info['host']}")
    print(f"variant:       {model.variant.describe() if model.variant else 'default'}")
    print(f"variants:      {', '.join(info['variants'])}")
    print(f"providers:     {', '.join(info['providers'])}")
    print(f"plan:          {info['plan']}")
    print(f"certification: {info['certification']}")
    return 0

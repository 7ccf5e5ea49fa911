"""``precast config``: check precast.toml, show a model's resolved settings, print schemas.

- ``check``: validate the file (the same validation every command runs on load).
- ``show MODEL``: every setting of the model with where it came from (file, env, default).
- ``schema``: the JSON Schema of precast.toml for editors (docs/precast.schema.json).
- ``env``: the table of ``PRECAST_*`` variables the runtimes read (edge/environment.py).
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "config",
        help="check precast.toml, show resolved settings, print the schema",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    actions.add_parser("check", help="validate precast.toml").set_defaults(func=check)
    show = actions.add_parser("show", help="a model's settings and where each came from")
    show.add_argument("model", help="model name from precast.toml (e.g. minilm)")
    show.set_defaults(func=show_model)
    actions.add_parser("schema", help="JSON Schema of precast.toml").set_defaults(func=schema)
    actions.add_parser("env", help="the PRECAST_* variables (Markdown)").set_defaults(func=env)


def check(args: argparse.Namespace) -> int:
    from precast.project.config import load_config

    cfg = load_config(args.config)
    print(f"{cfg.path}: ok ({len(cfg.models)} model(s): {', '.join(cfg.models)})")
    return 0


def show_model(args: argparse.Namespace) -> int:
    from precast.config_view import resolved_settings
    from precast.project.config import load_config

    cfg = load_config(args.config)
    rows = resolved_settings(cfg, args.model)
    width = max(len(key) for key, _, _ in rows)
    print(f"# {cfg.path}")
    for key, value, source in rows:
        print(f"{key:<{width}} = {json.dumps(value)}  # {source}")
    return 0


def schema(args: argparse.Namespace) -> int:
    from precast.project.config import json_schema

    print(json.dumps(json_schema(), indent=2, sort_keys=True))
    return 0


def env(args: argparse.Namespace) -> int:
    from edge.environment import markdown_table

    print(markdown_table())
    return 0

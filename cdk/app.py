"""Entry point of ``cdk.json``: ``.venv/bin/python -m cdk.app``.

Reads ``precast.toml`` and the deploy settings from context, builds one
:class:`cdk.stack.PrecastStack`, applies cdk-nag AwsSolutions, and synthesizes. Runs with
no AWS credentials: account and region default to dummies (see :mod:`cdk.settings`).

``build_app(context)`` is what the tests use. The ``context`` block of ``cdk.json``
(feature flags) is merged in, so a test, ``python -m cdk.app`` and the CDK CLI all
synthesize the same template.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import App, Environment, Tags

from cdk.nag import add_nag_checks
from cdk.settings import DeploySettings
from cdk.stack import PrecastStack
from edge.exceptions import PrecastError
from precast.project.config import load_config

REPO_ROOT = Path(__file__).resolve().parent.parent
CDK_JSON = REPO_ROOT / "cdk.json"


def cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """The ``context`` block of ``cdk.json`` (feature flags), or ``{}`` if absent."""
    if not path.is_file():
        return {}
    context = json.loads(path.read_text(encoding="utf-8")).get("context", {})
    return dict(context) if isinstance(context, dict) else {}


def build_app(
    context: Mapping[str, Any] | None = None, *, outdir: str | None = None
) -> tuple[App, PrecastStack]:
    """The app and its one stack, not yet synthesized. ``context`` wins over cdk.json."""
    merged = {**cdk_json_context(), **(context or {})}
    app = App(context=merged, outdir=outdir)
    settings = DeploySettings.from_context(app.node)
    # The batch VPC names its AZs, but aws-cdk-lib still checks them against the stack's AZ
    # list, which is a context lookup (i.e. AWS credentials). Seed that lookup with the
    # configured AZs, exactly as cdk.context.json would cache it, so synth stays offline.
    az_key = f"availability-zones:account={settings.account}:region={settings.region}"
    if app.node.try_get_context(az_key) is None:
        app.node.set_context(az_key, list(settings.availability_zones))
    config_path = settings.config_path
    if not config_path.is_absolute():
        config_path = (Path.cwd() / config_path).resolve()
    config = load_config(config_path)
    stack = PrecastStack(
        app,
        settings.stack_name,
        config=config,
        settings=settings,
        env=Environment(account=settings.account, region=settings.region),
        description=f"precast ({settings.env}): inference, cache, batch precompute, edge",
        termination_protection=settings.is_prod,
    )
    Tags.of(stack).add("project", "precast")
    Tags.of(stack).add("precast:env", settings.env)
    add_nag_checks(app)
    return app, stack


def main() -> int:
    try:
        app, _ = build_app(outdir=os.environ.get("CDK_OUTDIR") or "cdk.out")
    except PrecastError as exc:
        print(f"precast cdk: {exc}", file=sys.stderr)
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``precast serve [MODEL]``: the function app on localhost, like a Lambda Function URL.

Serves the latest artifact of MODEL (or of every model that has one) with the cache from
precast.toml (``project.cache``; SQLite by default), write-back and TTL from
``[models.MODEL.serving]``. Also answers the Lambda emulator path, so a recorded Function
URL event replays through the Lambda handler code:

    curl -s localhost:8080/2015-03-31/functions/function/invocations \\
         -d @tests/events/function_url_predict.json
"""

from __future__ import annotations

import argparse
import ipaddress
from dataclasses import replace
from pathlib import Path
from typing import Any

from edge.environment import DEFAULT_HEADER_TIMEOUT_S, DEFAULT_MAX_HEADER_BYTES, PRECAST_API_TOKEN


def _positive_int(raw: str) -> int:
    if not raw.strip().isdigit() or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a positive integer")
    return int(raw)


def _positive_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{raw!r} must be a finite number > 0")
    return value


def register(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="serve the inference API on localhost (uvicorn, SQLite cache)",
        description=(
            "Serve MODEL's latest artifact (all models with an artifact if omitted) over HTTP\n"
            "with the same app Lambda and Modal run. Routes: POST /v1/models/MODEL/predict,\n"
            "GET /v1/models, GET /v1/models/MODEL, GET /healthz, GET /openapi.json, and\n"
            "POST /2015-03-31/functions/function/invocations (replay a Lambda event).\n"
            "With a token (--token-file or $PRECAST_API_TOKEN) every route but /healthz needs\n"
            "'Authorization: Bearer <token>' (401 otherwise); a non-loopback --host needs a\n"
            "token or --insecure-no-auth. Request heads are bounded: --max-header-bytes (431)\n"
            "and --header-timeout-s (408)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", nargs="?", help="model name from precast.toml (default: all built)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default: 8080)")
    p.add_argument(
        "--micro-batch",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="coalesce concurrent requests into one predict call (default: on when a model "
        "runs on CUDA, off on CPU, where it measured slower; see docs/functions.md)",
    )
    p.add_argument("--batch-wait-ms", type=float, default=None, help="micro-batch wait")
    p.add_argument("--max-batch-size", type=int, default=None, help="texts per micro-batch")
    p.add_argument(
        "--cache",
        default=None,
        metavar="URL",
        help="cache URL (default: project.cache from precast.toml; 'none' for no cache)",
    )
    p.add_argument("--log-level", default="info", help="uvicorn log level (default: info)")
    p.add_argument(
        "--max-header-bytes",
        type=_positive_int,
        default=DEFAULT_MAX_HEADER_BYTES,
        metavar="N",
        help="a request line plus headers over N bytes is refused 431 "
        f"(default: {DEFAULT_MAX_HEADER_BYTES})",
    )
    p.add_argument(
        "--header-timeout-s",
        type=_positive_float,
        default=DEFAULT_HEADER_TIMEOUT_S,
        metavar="S",
        help="a request line plus headers not complete S seconds after the connection (or "
        f"the request's first byte) is refused 408 (default: {DEFAULT_HEADER_TIMEOUT_S:g})",
    )
    p.add_argument(
        "--token-file",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"require 'Authorization: Bearer <token>' on every route but /healthz, the token "
        f"read from PATH (default: ${PRECAST_API_TOKEN.name}; unset: no auth)",
    )
    p.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="serve a non-loopback --host without a token (anyone who can reach it may call it)",
    )
    p.set_defaults(func=run)


def is_loopback(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1: only this machine can connect."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def api_token(args: argparse.Namespace) -> str | None:
    """The bearer token (``--token-file``, else ``$PRECAST_API_TOKEN``), or None; refuses a
    non-loopback ``--host`` without one unless ``--insecure-no-auth``."""
    from precast.project.exceptions import ConfigError

    token: str | None
    if args.token_file is not None:
        try:
            token = args.token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--token-file {args.token_file}: {exc}") from None
        if not token:
            raise ConfigError(f"--token-file {args.token_file} is empty; write the token in it")
    else:
        token = PRECAST_API_TOKEN.read()
    if token is None and not is_loopback(args.host) and not args.insecure_no_auth:
        raise ConfigError(
            f"--host {args.host} accepts connections from other machines, and no token is set: "
            f"set {PRECAST_API_TOKEN.name} (or --token-file PATH) so clients must send "
            "'Authorization: Bearer <token>', or pass --insecure-no-auth to serve it open"
        )
    return token


def run(args: argparse.Namespace) -> int:
    from edge.artifact_layout import latest_artifact
    from edge.exceptions import ArtifactError
    from functions.lanes import serving_session_config
    from functions.local_host import serve
    from functions.registry import ModelRegistry
    from functions.settings import resolve_settings
    from precast.project.config import load_config
    from precast.project.exceptions import ConfigError

    token = api_token(args)  # before the models load: a refusal is immediate
    cfg = load_config(args.config)
    names = [args.model] if args.model else list(cfg.models)
    dirs = []
    for name in names:
        cfg.model(name)  # unknown names fail with the list of choices
        try:
            dirs.append(latest_artifact(cfg.artifacts_dir, name))
        except ArtifactError:
            if args.model:
                raise
    if not dirs:
        raise ConfigError(f"no built artifacts for {', '.join(names)}; run `precast optimize`")
    serving = cfg.model(names[0]).serving
    settings = resolve_settings(
        artifact_dirs=tuple(dirs),
        cache_url=args.cache if args.cache is not None else cfg.cache,
        write_back=serving.write_back,
        cache_ttl_s=serving.cache_ttl_days * 86400.0,
        micro_batch=False,
        batch_wait_ms=args.batch_wait_ms,
        max_batch_size=args.max_batch_size,
    )
    registry = ModelRegistry.from_settings(
        settings, session_config=serving_session_config(settings.inference_workers)
    )
    on_gpu = any("CUDAExecutionProvider" in m.providers for m in registry.models.values())
    micro_batch = on_gpu if args.micro_batch is None else args.micro_batch
    settings = replace(settings, micro_batch=micro_batch)
    print(
        f"precast serve: {', '.join(f'{n} {m.version}' for n, m in registry.models.items())} "
        f"on http://{args.host}:{args.port} (cache: {settings.cache_url or 'none'}, "
        f"micro-batch: {'on' if settings.micro_batch else 'off'}, "
        f"auth: {'bearer token' if token else 'none'})",
        flush=True,
    )
    serve(
        registry,
        settings,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        max_header_bytes=args.max_header_bytes,
        header_timeout_s=args.header_timeout_s,
        api_token=token,
    )
    return 0

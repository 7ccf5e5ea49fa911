"""Host settings: explicit argument, then environment variable, then default.

Every environment variable the functions read is a constant here, and docs/functions.md
has the one table of them. Nothing in this module imports a model or a cache: resolving
settings is cheap and fails early with a message that names the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from edge.artifact_layout import read_latest_pointer
from edge.manifest import MANIFEST_NAME
from functions.exceptions import SettingsError

ENV_ARTIFACT_DIR = "PRECAST_ARTIFACT_DIR"
ENV_MODELS_DIR = "PRECAST_MODELS_DIR"
ENV_CACHE_URL = "PRECAST_CACHE_URL"
ENV_WRITE_BACK = "PRECAST_WRITE_BACK"
ENV_CACHE_TTL_S = "PRECAST_CACHE_TTL_S"
ENV_MAX_BODY_BYTES = "PRECAST_MAX_BODY_BYTES"
ENV_MICRO_BATCH = "PRECAST_MICRO_BATCH"
ENV_BATCH_WAIT_MS = "PRECAST_BATCH_WAIT_MS"
ENV_MAX_BATCH_SIZE = "PRECAST_MAX_BATCH_SIZE"
ENV_BODY_TIMEOUT_S = "PRECAST_BODY_TIMEOUT_S"
ENV_INFERENCE_WORKERS = "PRECAST_INFERENCE_WORKERS"
ENV_MAX_QUEUE = "PRECAST_MAX_QUEUE"

# The Lambda asset keeps its artifact in ``artifact/`` next to ``functions/``.
DEFAULT_ARTIFACT_DIR = Path(__file__).resolve().parent.parent / "artifact"
# Lambda Function URLs accept at most 6 MB per request, so every host accepts the same.
DEFAULT_MAX_BODY_BYTES = 6 * 1024 * 1024
DEFAULT_BATCH_WAIT_MS = 5.0
DEFAULT_MAX_BATCH_SIZE = 64
# A streaming host (uvicorn) waits at most this long for a whole request body (408 after).
DEFAULT_BODY_TIMEOUT_S = 30.0
# Concurrent inference calls per process; each ORT run already uses every core it may.
DEFAULT_INFERENCE_WORKERS = 2
# Requests that may wait for an inference worker (or a micro-batch) before 503s begin.
DEFAULT_MAX_QUEUE = 64
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_NO_CACHE = ("", "none", "off")


@dataclass(frozen=True)
class Settings:
    """What a host needs to build the app. ``cache_url=None`` serves without a cache."""

    artifact_dirs: tuple[Path, ...]
    cache_url: str | None = None
    write_back: bool = True
    cache_ttl_s: float | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    micro_batch: bool = False
    batch_wait_ms: float = DEFAULT_BATCH_WAIT_MS
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    inference_workers: int = DEFAULT_INFERENCE_WORKERS
    max_queue: int = DEFAULT_MAX_QUEUE


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean. Choices are: true|false")


def _number(name: str, raw: str, *, integer: bool, minimum: float) -> float:
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise SettingsError(f"{name}={raw!r} is not {kind}") from None
    if value < minimum:
        raise SettingsError(f"{name}={raw!r} must be >= {minimum:g}")
    return value


def artifacts_in(models_dir: Path) -> tuple[Path, ...]:
    """Artifact directories under ``models_dir``.

    Accepts the layout ``precast optimize`` writes (``<model>/latest`` naming a version
    directory), plain ``<name>/manifest.json`` directories, or one artifact itself.
    """
    if (models_dir / MANIFEST_NAME).is_file():
        return (models_dir,)
    if not models_dir.is_dir():
        raise SettingsError(f"{ENV_MODELS_DIR}: {models_dir} is not a directory")
    found: list[Path] = []
    for child in sorted(p for p in models_dir.iterdir() if p.is_dir()):
        if (child / MANIFEST_NAME).is_file():
            found.append(child)
        elif (latest := read_latest_pointer(child)) is not None:
            found.append(latest)
    if not found:
        raise SettingsError(
            f"{ENV_MODELS_DIR}: no artifacts under {models_dir} (expected <model>/latest or "
            f"<name>/{MANIFEST_NAME}). Run `precast optimize MODEL` first."
        )
    return tuple(found)


def _artifact_dirs(
    artifact_dirs: tuple[Path, ...] | None, env: Mapping[str, str]
) -> tuple[Path, ...]:
    if artifact_dirs:
        return tuple(Path(p) for p in artifact_dirs)
    if env.get(ENV_ARTIFACT_DIR):
        return tuple(Path(p) for p in env[ENV_ARTIFACT_DIR].split(os.pathsep) if p)
    if env.get(ENV_MODELS_DIR):
        return artifacts_in(Path(env[ENV_MODELS_DIR]))
    if (DEFAULT_ARTIFACT_DIR / MANIFEST_NAME).is_file():
        return (DEFAULT_ARTIFACT_DIR,)
    raise SettingsError(
        f"no model to serve: set {ENV_ARTIFACT_DIR} to an artifact directory (or "
        f"{ENV_MODELS_DIR} to a directory of artifacts), or ship one in {DEFAULT_ARTIFACT_DIR}"
    )


def _cache_url(explicit: str | None, env: Mapping[str, str]) -> str | None:
    raw = explicit if explicit is not None else env.get(ENV_CACHE_URL, "")
    return None if raw.strip().lower() in _NO_CACHE else raw.strip()


def resolve_settings(
    *,
    artifact_dirs: tuple[Path, ...] | None = None,
    cache_url: str | None = None,
    write_back: bool | None = None,
    cache_ttl_s: float | None = None,
    max_body_bytes: int | None = None,
    micro_batch: bool | None = None,
    batch_wait_ms: float | None = None,
    max_batch_size: int | None = None,
    body_timeout_s: float | None = None,
    inference_workers: int | None = None,
    max_queue: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build :class:`Settings`; each field from its argument, else its variable, else default.

    ``cache_url="none"`` (or an empty ``PRECAST_CACHE_URL``) serves without a cache.
    """
    env = os.environ if environ is None else environ

    def pick_bool(value: bool | None, name: str, default: bool) -> bool:
        if value is not None:
            return value
        return _bool(name, env[name]) if env.get(name) else default

    def pick_num(value: float | None, name: str, default: float, *, integer: bool) -> float:
        if value is not None:
            return value
        raw = env.get(name)
        minimum = 1 if integer else 0
        return _number(name, raw, integer=integer, minimum=minimum) if raw else default

    ttl = pick_num(cache_ttl_s, ENV_CACHE_TTL_S, 0.0, integer=False)
    return Settings(
        artifact_dirs=_artifact_dirs(artifact_dirs, env),
        cache_url=_cache_url(cache_url, env),
        write_back=pick_bool(write_back, ENV_WRITE_BACK, True),
        cache_ttl_s=ttl or None,
        max_body_bytes=int(
            pick_num(max_body_bytes, ENV_MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES, integer=True)
        ),
        micro_batch=pick_bool(micro_batch, ENV_MICRO_BATCH, False),
        batch_wait_ms=pick_num(
            batch_wait_ms, ENV_BATCH_WAIT_MS, DEFAULT_BATCH_WAIT_MS, integer=False
        ),
        max_batch_size=int(
            pick_num(max_batch_size, ENV_MAX_BATCH_SIZE, DEFAULT_MAX_BATCH_SIZE, integer=True)
        ),
        body_timeout_s=pick_num(
            body_timeout_s, ENV_BODY_TIMEOUT_S, DEFAULT_BODY_TIMEOUT_S, integer=False
        ),
        inference_workers=int(
            pick_num(
                inference_workers, ENV_INFERENCE_WORKERS, DEFAULT_INFERENCE_WORKERS, integer=True
            )
        ),
        max_queue=int(pick_num(max_queue, ENV_MAX_QUEUE, DEFAULT_MAX_QUEUE, integer=True)),
    )

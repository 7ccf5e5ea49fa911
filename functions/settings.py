"""Host settings: explicit argument, then environment variable, then default.

Every environment variable is named, typed and parsed once, in :mod:`edge.environment`
(docs/configuration.md's table is generated from it); the ``ENV_*`` names here are its
constants.
Nothing in this module imports a model or a cache: resolving settings is cheap and fails
early with a message that names the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from edge.artifact_layout import read_latest_pointer
from edge.environment import (
    DEFAULT_BATCH_WAIT_MS,
    DEFAULT_BODY_TIMEOUT_S,
    DEFAULT_INFERENCE_WORKERS,
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_QUEUE,
    PRECAST_ARTIFACT_DIR,
    PRECAST_BATCH_WAIT_MS,
    PRECAST_BODY_TIMEOUT_S,
    PRECAST_CACHE_TTL_S,
    PRECAST_CACHE_URL,
    PRECAST_INFERENCE_WORKERS,
    PRECAST_MAX_BATCH_SIZE,
    PRECAST_MAX_BODY_BYTES,
    PRECAST_MAX_QUEUE,
    PRECAST_MICRO_BATCH,
    PRECAST_MODEL,
    PRECAST_MODELS_DIR,
    PRECAST_WRITE_BACK,
    EnvVar,
    EnvVarError,
)
from edge.manifest import MANIFEST_NAME
from functions.exceptions import SettingsError

ENV_ARTIFACT_DIR = PRECAST_ARTIFACT_DIR.name
ENV_MODELS_DIR = PRECAST_MODELS_DIR.name
ENV_CACHE_URL = PRECAST_CACHE_URL.name
ENV_WRITE_BACK = PRECAST_WRITE_BACK.name
ENV_CACHE_TTL_S = PRECAST_CACHE_TTL_S.name
ENV_MAX_BODY_BYTES = PRECAST_MAX_BODY_BYTES.name
ENV_MICRO_BATCH = PRECAST_MICRO_BATCH.name
ENV_BATCH_WAIT_MS = PRECAST_BATCH_WAIT_MS.name
ENV_MAX_BATCH_SIZE = PRECAST_MAX_BATCH_SIZE.name
ENV_MODEL = PRECAST_MODEL.name
ENV_BODY_TIMEOUT_S = PRECAST_BODY_TIMEOUT_S.name
ENV_INFERENCE_WORKERS = PRECAST_INFERENCE_WORKERS.name
ENV_MAX_QUEUE = PRECAST_MAX_QUEUE.name

# The Lambda asset keeps its artifact in ``artifact/`` next to ``functions/``.
DEFAULT_ARTIFACT_DIR = Path(__file__).resolve().parent.parent / "artifact"
T = TypeVar("T")


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
    model: str | None = None  # PRECAST_MODEL: the registry refuses artifacts of another name


def _read(var: EnvVar[T], env: Mapping[str, str]) -> T:
    """The variable's value per the one contract (edge/environment.py), as a SettingsError."""
    try:
        return var.read(env)
    except EnvVarError as exc:
        raise SettingsError(str(exc)) from None


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
    if listed := _read(PRECAST_ARTIFACT_DIR, env):
        return listed
    if (models_dir := _read(PRECAST_MODELS_DIR, env)) is not None:
        return artifacts_in(models_dir)
    if (DEFAULT_ARTIFACT_DIR / MANIFEST_NAME).is_file():
        return (DEFAULT_ARTIFACT_DIR,)
    raise SettingsError(
        f"no model to serve: set {ENV_ARTIFACT_DIR} to an artifact directory (or "
        f"{ENV_MODELS_DIR} to a directory of artifacts), or ship one in {DEFAULT_ARTIFACT_DIR}"
    )


def _cache_url(explicit: str | None, env: Mapping[str, str]) -> str | None:
    if explicit is None:
        return _read(PRECAST_CACHE_URL, env)
    return None if explicit.strip().lower() in ("", "none", "off") else explicit.strip()


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

    ``cache_url="none"`` (or an empty ``PRECAST_CACHE_URL``) serves without a cache;
    a TTL of 0 (argument or variable) means entries never expire.
    """
    env = os.environ if environ is None else environ

    def pick(value: T | None, var: EnvVar[T]) -> T:
        return value if value is not None else _read(var, env)

    ttl = cache_ttl_s if cache_ttl_s is not None else _read(PRECAST_CACHE_TTL_S, env)
    return Settings(
        artifact_dirs=_artifact_dirs(artifact_dirs, env),
        cache_url=_cache_url(cache_url, env),
        write_back=pick(write_back, PRECAST_WRITE_BACK),
        cache_ttl_s=ttl or None,
        max_body_bytes=pick(max_body_bytes, PRECAST_MAX_BODY_BYTES),
        micro_batch=pick(micro_batch, PRECAST_MICRO_BATCH),
        batch_wait_ms=pick(batch_wait_ms, PRECAST_BATCH_WAIT_MS),
        max_batch_size=pick(max_batch_size, PRECAST_MAX_BATCH_SIZE),
        model=_read(PRECAST_MODEL, env),
        body_timeout_s=pick(body_timeout_s, PRECAST_BODY_TIMEOUT_S),
        inference_workers=pick(inference_workers, PRECAST_INFERENCE_WORKERS),
        max_queue=pick(max_queue, PRECAST_MAX_QUEUE),
    )

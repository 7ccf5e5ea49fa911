"""A model's resolved settings as rows ``(key, value, source)`` for ``precast config show``.

``source`` is ``file`` (written in precast.toml), ``default`` (the schema's default), or
``env NAME`` when a ``PRECAST_*`` variable overrides the value at run time (the batch job
and the function hosts read the cache URL and TTL from the environment before the file).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from typing import Any

from edge.environment import PRECAST_CACHE_TTL_S, PRECAST_CACHE_URL, EnvVar
from precast.project.config import ProjectConfig

Row = tuple[str, Any, str]
# Keys a runtime variable overrides, relative to the model table (or the project table).
_ENV_OVERRIDES: dict[str, EnvVar[Any]] = {
    "project.cache": PRECAST_CACHE_URL,
    "serving.cache_ttl_days": PRECAST_CACHE_TTL_S,
}


def resolved_settings(
    cfg: ProjectConfig, model_name: str, *, env: Mapping[str, str] | None = None
) -> list[Row]:
    environ = os.environ if env is None else env
    model = cfg.model(model_name)
    raw_project = cfg.raw.get("project", {})
    raw_model = cfg.raw.get("models", {}).get(model_name, {})
    rows: list[Row] = [
        ("project.artifacts_dir", str(cfg.artifacts_dir), _source(raw_project, ["artifacts_dir"])),
        ("project.dist_dir", str(cfg.dist_dir), _source(raw_project, ["dist_dir"])),
        ("project.cache", cfg.cache, _source(raw_project, ["cache"])),
        ("project.keys_dir", str(cfg.keys_dir), _source(raw_project, ["keys_dir"])),
    ]
    rows += [
        (f"models.{model_name}.{key}", value, _source(raw_model, key.split(".")))
        for key, value in _leaves(model)
    ]
    out: list[Row] = []
    for key, value, source in rows:
        short = key.removeprefix(f"models.{model_name}.")
        var = _ENV_OVERRIDES.get(short)
        if var is not None and environ.get(var.name, "").strip():
            value_set = environ[var.name].strip()
            source = f"env {var.name}={value_set} (read before the {source} by the runtimes)"
        out.append((key, value, source))
    return out


def _leaves(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    leaves: list[tuple[str, Any]] = []
    for f in fields(obj):
        if f.name == "name":
            continue
        value = getattr(obj, f.name)
        key = f"{prefix}{f.name.rstrip('_')}"
        if is_dataclass(value):
            leaves += _leaves(value, f"{key}.")
        else:
            leaves.append((key, list(value) if isinstance(value, tuple) else value))
    return leaves


def _source(raw: Any, path: list[str]) -> str:
    node = raw
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return "default"
        node = node[part]
    return "file"

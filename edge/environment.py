"""The runtime environment contract: every ``PRECAST_*`` variable, defined once.

Each :class:`EnvVar` names a variable, its type, default and meaning, which hosts read it,
and parses it. CDK sets variables through these constants, the hosts (Lambda, Modal,
batch, local serve, devices) read them through :meth:`EnvVar.read`, so one value means one
thing everywhere (``PRECAST_CACHE_TTL_S=0`` is "never expires" on every host). The
table in docs/configuration.md is generated from :data:`VARIABLES` (``precast config env``)
and a test checks it. Stdlib only: this module is on every host's import path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from edge.exceptions import PrecastError

T = TypeVar("T")
Parser = Callable[[str, str], T]

# Who reads a variable. "lambda", "modal" (inside the container), "local" (precast serve)
# run functions/; "modal-deploy" is `modal deploy functions/modal_app.py`; "batch" is
# `python -m batch`; "edge" is every process that loads a model; "cli" is `precast`;
# "deployer" is the Modal deployer Lambda in cdk/; "tests" are fault-injection hooks.
HOSTS = ("lambda", "modal", "modal-deploy", "local", "batch", "edge", "cli", "deployer", "tests")
FUNCTION_HOSTS = ("lambda", "modal", "local")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_NO_CACHE = ("none", "off")
CACHE_SCHEMES = ("sqlite:", "dynamodb:")
# Who may call the Modal web endpoint: "proxy" needs a Modal proxy-auth token (the
# Modal-Key / Modal-Secret headers), "none" makes the URL public.
MODAL_AUTHS = ("proxy", "none")


class EnvVarError(PrecastError, ValueError):
    """A ``PRECAST_*`` variable holds a value its parser refuses; the message names it."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name


@dataclass(frozen=True)
class EnvVar(Generic[T]):
    """One variable: ``read(env)`` -> the parsed value, or ``default`` when unset/blank."""

    name: str
    type: str
    default: T
    meaning: str
    readers: tuple[str, ...]
    parse: Parser[T]
    default_doc: str = ""

    def __post_init__(self) -> None:
        unknown = set(self.readers) - set(HOSTS)
        if not self.name.startswith("PRECAST_") or unknown:
            raise ValueError(f"{self.name}: bad contract entry (readers {sorted(unknown)})")

    def read(self, env: Mapping[str, str] | None = None) -> T:
        raw = (os.environ if env is None else env).get(self.name, "")
        return self.parse(self.name, raw.strip()) if raw.strip() else self.default

    def __str__(self) -> str:
        return self.name


def parse_text(name: str, raw: str) -> str:
    return raw


def parse_optional_text(name: str, raw: str) -> str | None:
    return raw or None


def parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise EnvVarError(name, f"{name}={raw!r} is not a boolean. Choices are: true|false")


def format_bool(value: bool) -> str:
    """How CDK and the deployer write a boolean the parser reads back."""
    return "true" if value else "false"


def integer(minimum: int) -> Parser[int]:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise EnvVarError(name, f"{name}={raw!r} is not an integer") from None
        if value < minimum:
            raise EnvVarError(name, f"{name}={raw!r} must be >= {minimum}")
        return value

    return parse


def number(minimum: float) -> Parser[float]:
    def parse(name: str, raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise EnvVarError(name, f"{name}={raw!r} is not a number") from None
        if not value >= minimum:  # also refuses nan
            raise EnvVarError(name, f"{name}={raw!r} must be >= {minimum:g}")
        return value

    return parse


def parse_ttl_s(name: str, raw: str) -> float | None:
    """Seconds a cache entry lives; ``0`` means it never expires (the same on every host)."""
    seconds = number(0)(name, raw)
    return seconds or None


def ttl_seconds(days: int) -> str:
    """``[serving] cache_ttl_days`` as CDK writes ``PRECAST_CACHE_TTL_S`` (0: no expiry)."""
    return str(days * 86_400)


def parse_cache_url(name: str, raw: str) -> str | None:
    """``sqlite:<path>`` | ``dynamodb:<table>``; ``none``/``off`` (or blank): no cache."""
    if raw.lower() in _NO_CACHE:
        return None
    if not raw.startswith(CACHE_SCHEMES) or raw in CACHE_SCHEMES:
        raise EnvVarError(name, f"{name}={raw!r}. Choices are: sqlite:<path>|dynamodb:<table>|none")
    return raw


def choice(options: tuple[str, ...]) -> Parser[str]:
    def parse(name: str, raw: str) -> str:
        if raw not in options:
            raise EnvVarError(name, f"{name}={raw!r}. Choices are: {'|'.join(options)}")
        return raw

    return parse


def parse_paths(name: str, raw: str) -> tuple[Path, ...]:
    return tuple(Path(p) for p in raw.split(os.pathsep) if p.strip())


def parse_path(name: str, raw: str) -> Path:
    return Path(raw)


def parse_providers(name: str, raw: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in raw.split(",") if p.strip())


# Lambda Function URLs accept at most 6 MB per request, so every host accepts the same.
DEFAULT_MAX_BODY_BYTES = 6 * 1024 * 1024
DEFAULT_BATCH_WAIT_MS = 5.0
DEFAULT_MAX_BATCH_SIZE = 64
# A streaming host (uvicorn) waits at most this long for a whole request body (408 after).
DEFAULT_BODY_TIMEOUT_S = 30.0
# Concurrent inference calls per process (each gets cores // workers ORT threads).
DEFAULT_INFERENCE_WORKERS = 2
# Requests that may wait for an inference worker (or a micro-batch) before 503s begin.
DEFAULT_MAX_QUEUE = 64
# `precast serve` (uvicorn on h11): a request line plus headers over this many bytes is a
# 431 (h11's receive buffer bound: a connection holds at most this plus one socket read),
# and one that is not complete this many seconds after the connection opened, or after its
# first byte on a kept-alive connection, is a 408 (slow-header clients are cut off).
DEFAULT_MAX_HEADER_BYTES = 32 * 1024
DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_BATCH_ARTIFACT = Path("/opt/artifact")

PRECAST_CONFIG: EnvVar[str | None] = EnvVar(
    "PRECAST_CONFIG", "path", None, "precast.toml to use", ("cli",),
    parse_optional_text, "`./precast.toml`",
)  # fmt: skip
PRECAST_MODEL: EnvVar[str | None] = EnvVar(
    "PRECAST_MODEL", "model name", None,
    "the model this deployment serves; the host refuses to start on an artifact of another name",
    ("lambda", "modal", "modal-deploy", "batch"), parse_optional_text, "any",
)  # fmt: skip
PRECAST_ARTIFACT_DIR: EnvVar[tuple[Path, ...]] = EnvVar(
    "PRECAST_ARTIFACT_DIR", "paths (`:`-separated)", (),
    "artifact directories a function host serves (a Modal deploy ships the first)",
    ("lambda", "modal", "modal-deploy", "local"), parse_paths, "the asset's `artifact/`",
)  # fmt: skip
PRECAST_MODELS_DIR: EnvVar[Path | None] = EnvVar(
    "PRECAST_MODELS_DIR", "path", None,
    "a directory of artifacts (`<model>/latest`) a function host serves",
    ("lambda", "modal", "local"), parse_path, "—",
)  # fmt: skip
PRECAST_ARTIFACT: EnvVar[Path] = EnvVar(
    "PRECAST_ARTIFACT", "path", DEFAULT_BATCH_ARTIFACT,
    "the artifact `python -m batch` runs (baked into the batch image)",
    ("batch",), parse_path, "`/opt/artifact`",
)  # fmt: skip
PRECAST_CACHE_URL: EnvVar[str | None] = EnvVar(
    "PRECAST_CACHE_URL", "cache URL", None,
    "prediction cache: `sqlite:<path>`, `dynamodb:<table>` or `none`",
    ("lambda", "modal", "local", "batch"), parse_cache_url, "none (CLI: `project.cache`)",
)  # fmt: skip
PRECAST_CACHE_TTL_S: EnvVar[float | None] = EnvVar(
    "PRECAST_CACHE_TTL_S", "seconds >= 0", None,
    "how long a cache entry lives; `0` or unset: never expires",
    ("lambda", "modal", "local", "batch"), parse_ttl_s, "no expiry",
)  # fmt: skip
PRECAST_WRITE_BACK: EnvVar[bool] = EnvVar(
    "PRECAST_WRITE_BACK", "bool", True, "functions write live predictions into the cache",
    FUNCTION_HOSTS, parse_bool, "`true`",
)  # fmt: skip
PRECAST_MAX_BODY_BYTES: EnvVar[int] = EnvVar(
    "PRECAST_MAX_BODY_BYTES", "int >= 1", DEFAULT_MAX_BODY_BYTES,
    "largest request body accepted (413 above)", FUNCTION_HOSTS, integer(1), "6 MiB",
)  # fmt: skip
PRECAST_MICRO_BATCH: EnvVar[bool] = EnvVar(
    "PRECAST_MICRO_BATCH", "bool", False,
    "coalesce concurrent requests into one inference call (pays on a GPU)",
    FUNCTION_HOSTS, parse_bool, "`false` (Modal GPU image: `true`)",
)  # fmt: skip
PRECAST_BATCH_WAIT_MS: EnvVar[float] = EnvVar(
    "PRECAST_BATCH_WAIT_MS", "ms >= 0", DEFAULT_BATCH_WAIT_MS,
    "how long the micro-batcher (and Modal's `@modal.batched`) waits for company",
    (*FUNCTION_HOSTS, "modal-deploy"), number(0), "`5`",
)  # fmt: skip
PRECAST_MAX_BATCH_SIZE: EnvVar[int] = EnvVar(
    "PRECAST_MAX_BATCH_SIZE", "int >= 1", DEFAULT_MAX_BATCH_SIZE,
    "most texts per coalesced inference call", (*FUNCTION_HOSTS, "modal-deploy"),
    integer(1), "`64`",
)  # fmt: skip
PRECAST_BODY_TIMEOUT_S: EnvVar[float] = EnvVar(
    "PRECAST_BODY_TIMEOUT_S", "seconds > 0", DEFAULT_BODY_TIMEOUT_S,
    "how long a streaming host waits for a whole request body (408 after)",
    FUNCTION_HOSTS, number(0.001), "`30`",
)  # fmt: skip
PRECAST_INFERENCE_WORKERS: EnvVar[int] = EnvVar(
    "PRECAST_INFERENCE_WORKERS", "int >= 1", DEFAULT_INFERENCE_WORKERS,
    "concurrent inference calls per process (cache hits never wait for them)",
    FUNCTION_HOSTS, integer(1), "`2`",
)  # fmt: skip
PRECAST_MAX_QUEUE: EnvVar[int] = EnvVar(
    "PRECAST_MAX_QUEUE", "int >= 1", DEFAULT_MAX_QUEUE,
    "requests that may wait for inference before the host answers 503 + Retry-After",
    FUNCTION_HOSTS, integer(1), "`64`",
)  # fmt: skip
PRECAST_MODAL_APP: EnvVar[str] = EnvVar(
    "PRECAST_MODAL_APP", "name", "precast", "the Modal app name (`[models.X.modal] app_name`)",
    ("modal-deploy", "modal"), parse_text, "`precast`",
)  # fmt: skip
PRECAST_MODAL_GPU: EnvVar[str | None] = EnvVar(
    "PRECAST_MODAL_GPU", "GPU type", None, "Modal GPU (`T4`, `A10G`, ...); unset: a CPU container",
    ("modal-deploy", "modal"), parse_optional_text, "CPU",
)  # fmt: skip
PRECAST_MODAL_MEMORY_SNAPSHOT: EnvVar[bool] = EnvVar(
    "PRECAST_MODAL_MEMORY_SNAPSHOT", "bool", True,
    "Modal memory snapshots (`[models.X.modal] memory_snapshot`): the artifact and tokenizer "
    "load on CPU once and each container restores them; `false`: every container loads",
    ("modal-deploy", "modal"), parse_bool, "`true`",
)  # fmt: skip
PRECAST_MODAL_AUTH: EnvVar[str] = EnvVar(
    "PRECAST_MODAL_AUTH", "`proxy` or `none`", "proxy",
    "who may call the Modal web endpoint (`[models.X.modal] auth`): `proxy` requires a Modal "
    "proxy-auth token (`Modal-Key`/`Modal-Secret` headers); `none`: the URL is public",
    ("modal-deploy", "modal"), choice(MODAL_AUTHS), "`proxy`",
)  # fmt: skip
PRECAST_API_TOKEN: EnvVar[str | None] = EnvVar(
    "PRECAST_API_TOKEN", "secret", None,
    "the bearer token `precast serve` requires on every route but `/healthz` "
    "(`Authorization: Bearer <token>`; `--token-file` instead reads it from a file)",
    ("local",), parse_optional_text, "none: no auth, loopback only",
)  # fmt: skip
PRECAST_ORT_THREADS: EnvVar[int] = EnvVar(
    "PRECAST_ORT_THREADS", "int >= 0", 0,
    "ONNX Runtime intra-op threads per session run; `0`: 1 on CPU (each text its own run, "
    "one run per core in parallel), all the CPUs this process may use on a GPU host",
    ("edge",), integer(0), "`0`",
)  # fmt: skip
PRECAST_REQUIRE_CERTIFIED: EnvVar[bool] = EnvVar(
    "PRECAST_REQUIRE_CERTIFIED", "bool", False,
    "refuse to load an artifact whose manifest certifies no host of this kind (else: a warning "
    "in `model.certified`, the health check and `/healthz`)",
    ("edge",), parse_bool, "`false`",
)  # fmt: skip
PRECAST_ORT_PROVIDERS: EnvVar[tuple[str, ...]] = EnvVar(
    "PRECAST_ORT_PROVIDERS", "list (`,`-separated)", ("CUDAExecutionProvider",),
    "execution providers tried before the CPU when `providers=\"auto\"`",
    ("edge",), parse_providers, "`CUDAExecutionProvider`",
)  # fmt: skip
PRECAST_VARIANT: EnvVar[str | None] = EnvVar(
    "PRECAST_VARIANT", "variant name", None,
    "run this variant of the manifest (`precast info` lists them) instead of the one chosen "
    "for this host; it still falls back to ONNX Runtime CPU when it cannot run here",
    ("edge",), parse_optional_text, "— (chosen per host)",
)  # fmt: skip
PRECAST_PUBLIC_KEY: EnvVar[str | None] = EnvVar(
    "PRECAST_PUBLIC_KEY", "path or base64", None,
    "the channel's targets public key (Ed25519) a bundle is verified with when the caller "
    "passes none",
    ("edge",), parse_optional_text, "—",
)  # fmt: skip
PRECAST_PROJECT_DIR: EnvVar[Path] = EnvVar(
    "PRECAST_PROJECT_DIR", "path", Path(),
    "where the Modal deployer image holds the project", ("deployer",), parse_path, "`.`",
)  # fmt: skip
PRECAST_BATCH_AWS_ATTEMPTS: EnvVar[int] = EnvVar(
    "PRECAST_BATCH_AWS_ATTEMPTS", "int >= 1", 5,
    "attempts per S3/DynamoDB call of the batch job (botocore standard retry mode); what still "
    "fails exits 75",
    ("batch",), integer(1), "`5`",
)  # fmt: skip
PRECAST_BATCH_AWS_TIMEOUT_S: EnvVar[float] = EnvVar(
    "PRECAST_BATCH_AWS_TIMEOUT_S", "seconds > 0", 30.0,
    "read timeout of each S3/DynamoDB call of the batch job (connect: at most 5 s)",
    ("batch",), number(0.001), "`30`",
)  # fmt: skip
PRECAST_BATCH_CRASH_AT: EnvVar[str | None] = EnvVar(
    "PRECAST_BATCH_CRASH_AT", "`<step>:<n>`", None,
    "fault injection: SIGKILL the batch job at that step", ("tests",), parse_optional_text, "—",
)  # fmt: skip
PRECAST_BATCH_PAUSE_AT: EnvVar[str | None] = EnvVar(
    "PRECAST_BATCH_PAUSE_AT", "`<step>:<n>`", None,
    "fault injection: pause the batch job at that step", ("tests",), parse_optional_text, "—",
)  # fmt: skip
PRECAST_BATCH_PAUSE_FIFO: EnvVar[str | None] = EnvVar(
    "PRECAST_BATCH_PAUSE_FIFO", "path", None,
    "fault injection: the FIFO a paused job reports on and waits for",
    ("tests",), parse_optional_text, "—",
)  # fmt: skip

VARIABLES: tuple[EnvVar[Any], ...] = (
    PRECAST_CONFIG,
    PRECAST_MODEL,
    PRECAST_ARTIFACT_DIR,
    PRECAST_MODELS_DIR,
    PRECAST_ARTIFACT,
    PRECAST_CACHE_URL,
    PRECAST_CACHE_TTL_S,
    PRECAST_WRITE_BACK,
    PRECAST_MAX_BODY_BYTES,
    PRECAST_MICRO_BATCH,
    PRECAST_BATCH_WAIT_MS,
    PRECAST_BODY_TIMEOUT_S,
    PRECAST_INFERENCE_WORKERS,
    PRECAST_MAX_QUEUE,
    PRECAST_MAX_BATCH_SIZE,
    PRECAST_MODAL_APP,
    PRECAST_MODAL_GPU,
    PRECAST_MODAL_MEMORY_SNAPSHOT,
    PRECAST_MODAL_AUTH,
    PRECAST_API_TOKEN,
    PRECAST_ORT_THREADS,
    PRECAST_REQUIRE_CERTIFIED,
    PRECAST_ORT_PROVIDERS,
    PRECAST_VARIANT,
    PRECAST_PUBLIC_KEY,
    PRECAST_PROJECT_DIR,
    PRECAST_BATCH_AWS_ATTEMPTS,
    PRECAST_BATCH_AWS_TIMEOUT_S,
    PRECAST_BATCH_CRASH_AT,
    PRECAST_BATCH_PAUSE_AT,
    PRECAST_BATCH_PAUSE_FIFO,
)
BY_NAME: dict[str, EnvVar[Any]] = {v.name: v for v in VARIABLES}


def markdown_table(readers: tuple[str, ...] = HOSTS) -> str:
    """docs/configuration.md's table: one row per variable some of ``readers`` read."""
    rows = ["| variable | type | default | read by | meaning |", "|---|---|---|---|---|"]
    for v in VARIABLES:
        if set(v.readers) & set(readers):
            rows.append(
                f"| `{v.name}` | {v.type} | {v.default_doc} | {', '.join(v.readers)} "
                f"| {v.meaning} |"
            )
    return "\n".join(rows)

"""What one batch run is told to do: a typed, validated :class:`JobSettings`.

Resolution order for every setting: explicit argument, then environment variable, then
the caller's defaults (``precast batch run`` passes precast.toml's), then the built-in
default. The environment variables (``PRECAST_ARTIFACT``, ``PRECAST_CACHE_URL``,
``PRECAST_CACHE_TTL_S``, ``PRECAST_MODEL``) are named, typed and parsed once in
:mod:`edge.environment`, with the same meaning as on the function hosts (a TTL of 0: entries
never expire). ``AWS_BATCH_JOB_ARRAY_INDEX`` / ``AWS_BATCH_JOB_ARRAY_SIZE`` give the shard.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from batch.exceptions import BatchError
from batch.shards import ShardSpec
from edge.environment import PRECAST_ARTIFACT, PRECAST_CACHE_TTL_S, PRECAST_CACHE_URL, PRECAST_MODEL

ENV_ARTIFACT = PRECAST_ARTIFACT.name
ENV_CACHE_URL = PRECAST_CACHE_URL.name
ENV_CACHE_TTL_S = PRECAST_CACHE_TTL_S.name
ENV_MODEL = PRECAST_MODEL.name
DEFAULT_ARTIFACT = str(PRECAST_ARTIFACT.default)
DEFAULT_CHUNK = 1024  # bigger chunks bucket denser; at ~100 texts/s a SIGTERM waits <= ~10 s
OUTPUT_FORMATS = ("jsonl", "parquet")


class JobSettingsError(BatchError):
    """A batch setting is out of range; the message names it and what is allowed."""


@dataclass(frozen=True)
class JobSettings:
    artifact: str
    input: str
    output: str
    shard: ShardSpec = field(default_factory=ShardSpec)
    cache_url: str | None = None  # None: no cache (nothing skipped, nothing written)
    checkpoint: str | None = None  # prefix for checkpoints; None: inside the run directory
    id_field: str = "id"
    text_field: str = "text"
    checkpoint_every: int = 1000
    chunk_size: int = DEFAULT_CHUNK  # texts per inference call (EdgeModel buckets inside)
    error_budget: float = 0.01
    skip_cached: bool = True
    ttl_s: float | None = None  # None: entries never expire (0 is normalized to None)
    model: str | None = None  # PRECAST_MODEL: the job refuses an artifact of another name
    output_format: str | None = None  # None: same as the input
    progress: bool | None = None  # None: a bar when stderr is a terminal
    lease_ttl_s: float = 15 * 60.0  # a lease not renewed for this long may be taken over

    def __post_init__(self) -> None:
        for name in ("artifact", "input", "output", "id_field", "text_field"):
            if not getattr(self, name):
                raise JobSettingsError(f"{name.replace('_', '-')} is required (got nothing)")
        if self.checkpoint_every < 1:
            raise JobSettingsError(f"checkpoint-every must be >= 1, got {self.checkpoint_every}")
        if not self.lease_ttl_s > 0:
            raise JobSettingsError(f"lease-ttl must be > 0 seconds, got {self.lease_ttl_s}")
        if self.chunk_size < 1:
            raise JobSettingsError(f"chunk-size must be >= 1, got {self.chunk_size}")
        if not 0.0 <= self.error_budget <= 1.0:
            raise JobSettingsError(
                f"error-budget is a fraction of records: 0..1, got {self.error_budget}"
            )
        if self.ttl_s is not None and not self.ttl_s >= 0:
            raise JobSettingsError(f"ttl-s must be >= 0 (0 or unset: no expiry), got {self.ttl_s}")
        if self.ttl_s == 0:
            object.__setattr__(self, "ttl_s", None)  # one meaning on every host: never expires
        if self.output_format not in (None, *OUTPUT_FORMATS):
            raise JobSettingsError(
                f"output-format {self.output_format!r}. Choices are: {'|'.join(OUTPUT_FORMATS)}"
            )
        if self.cache_url is not None and not self.cache_url.startswith(("sqlite:", "dynamodb:")):
            raise JobSettingsError(
                f"cache {self.cache_url!r}. Choices are: sqlite:<path>|dynamodb:<table>|none"
            )

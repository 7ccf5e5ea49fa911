"""One factory for the AWS clients of the cache and the batch job, with a retry profile per caller.

Retries are botocore's own retry modes (``standard``: exponential backoff with jitter and a
retry quota; ``adaptive``: that plus client-side rate limiting once the service throttles).
Every call is bounded: at most ``max_attempts`` tries of ``connect_timeout_s +
read_timeout_s`` each, and botocore's backoff between them (uniform in
``[0, min(2**(i-1), 20)]`` seconds before retry ``i``, not configurable), so
:attr:`RetryProfile.worst_case_s` is the longest one call can take.

- :data:`FUNCTIONS` (the request path): one try with short timeouts. A miss is served live
  and the circuit breaker (:mod:`edge.cache.circuit`) stops asking a cache that is down,
  so a retry (whose first backoff alone may be a whole second) would only add latency: the
  worst case stays under a second.
- :func:`batch_profile` (the batch job, S3 and DynamoDB): adaptive mode, more attempts and
  patient timeouts (``PRECAST_BATCH_AWS_ATTEMPTS``, ``PRECAST_BATCH_AWS_TIMEOUT_S``) and no
  circuit breaker (the job retries a failed interval's cache writes itself); what still
  fails is transient (the job exits 75 and AWS Batch retries it).

boto3 is imported only when a client is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from edge.environment import PRECAST_BATCH_AWS_ATTEMPTS, PRECAST_BATCH_AWS_TIMEOUT_S
from edge.exceptions import CacheError

BOTOCORE_MAX_BACKOFF_S = 20.0  # botocore.retries.standard.ExponentialBackoff's cap
MAX_CONNECT_TIMEOUT_S = 5.0
RETRY_MODES = ("standard", "adaptive")


@dataclass(frozen=True)
class RetryProfile:
    """How one caller's AWS calls retry and time out (botocore's retry modes)."""

    name: str
    mode: str
    max_attempts: int  # total tries per call, the first included
    connect_timeout_s: float
    read_timeout_s: float
    circuit_breaker: bool = True  # stop asking a cache that keeps failing (serve live)

    def __post_init__(self) -> None:
        if self.mode not in RETRY_MODES or self.max_attempts < 1:
            raise ValueError(f"retry profile {self.name!r}: mode {self.mode!r}, attempts >= 1")
        if not (self.connect_timeout_s > 0 and self.read_timeout_s > 0):
            raise ValueError(f"retry profile {self.name!r}: timeouts must be > 0")

    @property
    def worst_case_s(self) -> float:
        """The longest one call can take: every try times out, every backoff is maximal."""
        tries = self.max_attempts * (self.connect_timeout_s + self.read_timeout_s)
        retries = range(1, self.max_attempts)
        waits = sum(min(2.0 ** (i - 1), BOTOCORE_MAX_BACKOFF_S) for i in retries)
        return tries + waits

    def with_timeout(self, timeout_s: float) -> RetryProfile:
        """The same profile with connect and read timeouts of ``timeout_s`` (a cache URL's
        ``timeout_s`` option)."""
        return replace(self, connect_timeout_s=timeout_s, read_timeout_s=timeout_s)

    def botocore_config(self, pool: int) -> Any:
        from botocore.config import Config

        return Config(
            retries={"mode": self.mode, "total_max_attempts": self.max_attempts},
            connect_timeout=self.connect_timeout_s,
            read_timeout=self.read_timeout_s,
            max_pool_connections=max(10, pool),
        )


FUNCTIONS = RetryProfile("functions", "standard", 1, 0.3, 0.6)  # worst case 0.9 s


def batch_profile(env: Mapping[str, str] | None = None) -> RetryProfile:
    """The batch job's profile: adaptive retries, patient timeouts, set from the environment."""
    read_s = PRECAST_BATCH_AWS_TIMEOUT_S.read(env)
    return RetryProfile(
        "batch",
        "standard",
        PRECAST_BATCH_AWS_ATTEMPTS.read(env),
        min(MAX_CONNECT_TIMEOUT_S, read_s),
        read_s,
        circuit_breaker=False,  # an interval retries its writes; an outage exits 75
    )


def make_client(
    service: str,
    profile: RetryProfile,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    pool: int = 10,
) -> Any:
    """A boto3 client of ``service`` retrying as ``profile`` says. Without ``endpoint_url``
    boto3's own resolution applies (``AWS_ENDPOINT_URL_<SERVICE>``, ``AWS_ENDPOINT_URL``)."""
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        return boto3.session.Session().client(
            service,
            endpoint_url=endpoint_url,
            region_name=region,
            config=profile.botocore_config(pool),
        )
    except BotoCoreError as exc:
        raise CacheError(
            f"cannot create a {service} client: {exc}. Set AWS_REGION (or add ?region= to the "
            "cache URL)."
        ) from None

"""Fencing: at most one attempt of a shard writes at a time.

An attempt takes a lease on its shard before it reads or writes anything: a small JSON
object next to the checkpoint, created with a conditional write (S3 ``If-None-Match: *``;
locally a compare-and-swap under ``flock``). It renews the lease (a compare-and-swap on
the tag it last wrote) before every commit, and removes it when it ends. So:

- a second attempt while the first is alive finds a live lease and exits 75 (EX_TEMPFAIL:
  AWS Batch retries it later) without touching anything;
- an attempt whose lease was taken over (it stalled past the TTL) fails its next renewal
  and stops before committing again: it is fenced off;
- a lease left by a killed attempt is taken over at once when it is provably dead (the same
  AWS Batch job, whose attempts never overlap, or a dead process on this host), otherwise
  when it expires (``ttl_s``, default 15 minutes, renewed at every checkpoint).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from batch.exceptions import BatchError
from batch.storage import Storage

DEFAULT_TTL_S = 15 * 60.0
Clock = Callable[[], float]


class LeaseHeldError(BatchError):
    """Another live attempt holds this shard; retry later (exit 75)."""


class LeaseLostError(BatchError):
    """This attempt's lease was taken over; it stopped before committing (exit 75)."""


@dataclass(frozen=True)
class Holder:
    attempt: str
    host: str
    pid: int
    batch_job: str  # AWS_BATCH_JOB_ID ("" outside AWS Batch)
    expires_at: float

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def parse(cls, data: bytes) -> Holder | None:
        try:
            raw: dict[str, Any] = json.loads(data)
            return cls(
                attempt=str(raw["attempt"]),
                host=str(raw["host"]),
                pid=int(raw["pid"]),
                batch_job=str(raw.get("batch_job", "")),
                expires_at=float(raw["expires_at"]),
            )
        except (ValueError, KeyError, TypeError):
            return None  # unreadable: treated as stale

    def describe(self) -> str:
        where = f"AWS Batch job {self.batch_job}" if self.batch_job else f"pid {self.pid}"
        return f"attempt {self.attempt} on {self.host} ({where})"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ShardLease:
    def __init__(
        self, storage: Storage, uri: str, *, ttl_s: float = DEFAULT_TTL_S, clock: Clock = time.time
    ) -> None:
        self.storage = storage
        self.uri = uri
        self.ttl_s = ttl_s
        self.clock = clock
        self.attempt = uuid.uuid4().hex[:12]
        self.tag: str | None = None
        self.took_over: Holder | None = None

    def _body(self) -> bytes:
        return Holder(
            attempt=self.attempt,
            host=socket.gethostname(),
            pid=os.getpid(),
            batch_job=os.environ.get("AWS_BATCH_JOB_ID", ""),
            expires_at=self.clock() + self.ttl_s,
        ).to_json()

    def _stale(self, holder: Holder | None) -> bool:
        if holder is None or holder.expires_at <= self.clock():
            return True
        me = os.environ.get("AWS_BATCH_JOB_ID", "")
        if me and holder.batch_job == me:
            return True  # an earlier attempt of this very job: attempts are sequential
        return holder.host == socket.gethostname() and not _pid_alive(holder.pid)

    def acquire(self) -> None:
        self.tag = self.storage.write_if(self.uri, self._body(), None)
        if self.tag is not None:
            return
        current = self.storage.read_tagged(self.uri)
        if current is None:  # released in between: try once more
            self.tag = self.storage.write_if(self.uri, self._body(), None)
        else:
            data, tag = current
            holder = Holder.parse(data)
            if not self._stale(holder):
                assert holder is not None
                raise LeaseHeldError(
                    f"shard is being processed by {holder.describe()} until "
                    f"{time.strftime('%H:%M:%S', time.gmtime(holder.expires_at))} UTC "
                    f"(lease {self.uri}); exiting 75 so AWS Batch retries later"
                )
            self.tag = self.storage.write_if(self.uri, self._body(), tag)
            self.took_over = holder
        if self.tag is None:
            raise LeaseHeldError(f"another attempt took the lease {self.uri} at the same time")

    def renew(self) -> None:
        """Extend the lease; :class:`LeaseLostError` if someone else holds it now."""
        new = self.storage.write_if(self.uri, self._body(), self.tag)
        if new is None:
            current = self.storage.read_tagged(self.uri)
            holder = Holder.parse(current[0]) if current else None
            by = holder.describe() if holder else "nobody (it was removed)"
            raise LeaseLostError(
                f"lease {self.uri} is now held by {by}: this attempt stalled past its lease "
                "and was fenced off; it stops without committing (a retry resumes)"
            )
        self.tag = new

    def release(self) -> None:
        if self.tag is None:
            return
        current = self.storage.read_tagged(self.uri)
        if current is not None and current[1] == self.tag:
            self.storage.delete(self.uri)
        self.tag = None

"""Exit codes of ``python -m batch run`` and ``precast batch run`` (documented in docs/batch.md)."""

from __future__ import annotations

OK = 0  # complete (or already complete: a rerun of a finished shard is a no-op)
FAILED = 1  # a PrecastError: bad arguments/config, unreadable input or artifact, storage error
USAGE = 2  # the command line did not parse
ERROR_BUDGET = 3  # finished, but more records were rejected than --error-budget allows
TEMPFAIL = 75  # EX_TEMPFAIL: cache or S3 unreachable/throttled after retries; retry later
CACHE_UNAVAILABLE = TEMPFAIL
INTERRUPTED = 143  # 128 + SIGTERM: committed a checkpoint and stopped; a retry resumes
INTERRUPTED_SIGINT = 130  # 128 + SIGINT (Ctrl-C), same semantics

# What the AWS Batch job definition (cdk/batch_precompute.py) retries, and how many attempts
# a job gets in all (the first included): a transient failure and a SIGTERM checkpoint.
# Every other non-zero code is ours (bad input, a bug) and is not retried.
RETRIED_BY_AWS_BATCH = (TEMPFAIL, INTERRUPTED)
AWS_BATCH_ATTEMPTS = 5

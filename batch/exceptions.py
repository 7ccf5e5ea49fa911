"""Errors of the batch job. All subclass edge's :class:`~edge.exceptions.PrecastError`."""

from __future__ import annotations

from edge.exceptions import PrecastError


class BatchError(PrecastError):
    """Base of every error the batch job raises on purpose."""


class ShardSpecError(BatchError):
    """``--shard I/N``, ``--shards N`` or the AWS Batch array variables are missing or invalid."""


class InputFormatError(BatchError):
    """The input cannot be read as JSONL or Parquet (extension, missing column, corrupt file)."""


class StorageError(BatchError):
    """A local file or S3 object could not be read or written."""


class TransientStorageError(StorageError):
    """S3 stayed unreachable, throttled or failing (5xx) after botocore's retries. The job
    exits 75 (EX_TEMPFAIL), which the AWS Batch job definition retries."""


class InputChangedError(StorageError):
    """An input object changed while the job was reading it (S3 ETag no longer matches)."""


class CheckpointError(BatchError):
    """A checkpoint exists but cannot be used (unreadable, or written for another run)."""


class DamagedCheckpointError(CheckpointError):
    """The checkpoint's bytes are damaged or edited (bad JSON, hash, or a resume offset that
    is not a record boundary). The job discards it and restarts the shard."""


class ErrorBudgetExceededError(BatchError):
    """More records were rejected than the error budget allows.

    ``rejected`` of ``records`` were rejected; ``budget`` is the allowed fraction.
    """

    def __init__(self, message: str, *, rejected: int, records: int, budget: float) -> None:
        super().__init__(message)
        self.rejected = rejected
        self.records = records
        self.budget = budget

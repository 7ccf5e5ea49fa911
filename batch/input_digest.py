"""Input identity by content, for inputs whose tag is metadata (local files).

A local file's tag (mtime, ctime, inode) catches every ordinary edit, but not one that puts
all three back (a restore from a snapshot, a filesystem without ctime). So the JSONL reader
also hashes what it consumes, line by line, with the one read it makes anyway (no second
pass): :class:`InputDigest` holds the sha256 of every input file read to its end and of the
current file's consumed prefix. Each checkpoint records them; a resume re-reads the
consumed prefix once (read, not parsed) and compares before it goes on, so an edit of any
byte already consumed (even one that keeps size, mtime and ctime) stops the job with
:class:`~batch.exceptions.InputChangedError` instead of mixing two versions of the input.
The completion marker lists the digest of every input file.

S3 objects are identified by their ETag, which changes with any new content, and every read
is pinned to it (``If-Match``): their prefix is not re-read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from batch.exceptions import InputChangedError
from batch.storage import ObjectInfo, Readable

BLOCK = 1 << 20


class InputDigest:
    """sha256 of files ``0..n-2`` (read to the end) and of the consumed prefix of file n-1."""

    def __init__(self) -> None:
        self.done: list[str] = []
        self._current: Any = None
        self._mark: tuple[int, Any] | None = None

    def mark(self) -> None:
        """The reader is about to hand out a record: its position is where the hash stands
        (the reader may read on past it, to the end of the input, before the last commit)."""
        self._mark = (len(self.done), self._current.copy())

    def start_file(self) -> None:
        if self._current is not None:
            self.done.append(self._current.hexdigest())
        self._current = hashlib.sha256()

    def update(self, data: bytes) -> None:
        self._current.update(data)

    def digests(self) -> list[str]:
        """What a checkpoint records at the last record handed out: the digests of the files
        before its file, then of its file up to just after it."""
        if self._mark is None:
            return []
        files, current = self._mark
        return [*self.done[:files], current.hexdigest()]

    def full(self) -> list[str]:
        """Every file's digest, once the reader has read the input to its end."""
        current = [] if self._current is None else [self._current.hexdigest()]
        return [*self.done, *current]

    def verify_prefix(
        self, stream: Readable, obj: ObjectInfo, length: int, expected: Sequence[str], f: int
    ) -> None:
        """Hash the first ``length`` bytes of ``stream`` (file ``f``) into the current file and
        compare with what the checkpoint recorded for that prefix; leaves ``stream`` at
        ``length``."""
        left = length
        while left > 0:
            block = stream.read(min(BLOCK, left))
            if not block:
                break
            self.update(block)
            left -= len(block)
        if f < len(expected) and self._current.copy().hexdigest() != expected[f]:
            raise changed(obj, length)

    def skip_file(self, digest: str) -> None:
        """A file consumed by an earlier attempt whose digest was verified separately."""
        self.done.append(digest)


def file_digest(stream: Readable) -> str:
    h = hashlib.sha256()
    while block := stream.read(BLOCK):
        h.update(block)
    return h.hexdigest()


def changed(obj: ObjectInfo, length: int | None) -> InputChangedError:
    what = (
        "its content no longer matches"
        if length is None
        else (f"its first {length} bytes no longer match")
    )
    return InputChangedError(
        f"{obj.uri} changed since this run read it ({what} the sha256 the checkpoint "
        "recorded; its size and timestamps may be unchanged): the run's earlier parts are of "
        "the old content. Restore the input, or remove the run directory (`precast batch gc "
        "OUTPUT --min-age-hours 0 --delete`) and rerun"
    )

"""Where inputs, outputs and checkpoints live: local paths or ``s3://`` objects.

One small interface, two backends: :class:`LocalStorage` here, ``S3Storage`` in
:mod:`batch.s3`; :func:`batch.backends.storage_for` picks one for a URI. Writes are atomic
in both: a local file is written to a temporary name, fsynced and renamed
(``edge.durable_fs.write_atomic``); an S3 PUT is atomic by itself. Readers therefore see a
previous complete object or the new complete one, never a part, which is what makes
rewriting a part or a checkpoint safe to repeat.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from batch.exceptions import StorageError
from edge.durable_fs import write_atomic


@dataclass(frozen=True)
class ObjectInfo:
    """A readable input object. ``tag`` changes whenever the content does: the S3 ETag, or
        for a local file its mtime, ctime and inode (an edit changes the ctime even when the
        mtime is put back, and a replaced file has a new inode); ``(uri, size, tag)`` identifies
        the input of a run. ``modified`` (epoch seconds) is for housekeeping, not identity. A local
    JSONL file's content is also hashed as it is read (:mod:`batch.input_digest`)."""

    uri: str
    size: int
    tag: str
    modified: float = 0.0
    content_tagged: bool = False  # the tag changes with the content (S3 ETag), not metadata


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class Storage(Protocol):
    def info(self, uri: str) -> ObjectInfo: ...

    def list_files(self, uri: str) -> list[ObjectInfo] | None:
        """Objects directly under directory/prefix ``uri``, by name; None if not a prefix."""
        ...

    def open_stream(self, obj: ObjectInfo, offset: int = 0) -> Readable: ...

    def open_seekable(self, obj: ObjectInfo) -> BinaryIO: ...

    def read_bytes(self, uri: str) -> bytes | None:
        """The object's content, or None if it does not exist."""
        ...

    def write_bytes(self, uri: str, data: bytes) -> None: ...

    def exists(self, uri: str) -> bool: ...

    def list_dirs(self, uri: str) -> list[str]:
        """Names of the directories/prefixes directly under ``uri``."""
        ...

    def delete(self, uri: str) -> None:
        """Remove one file/object (missing is fine)."""
        ...

    def read_tagged(self, uri: str) -> tuple[bytes, str] | None:
        """The content and its version tag (ETag, or sha256 locally); None if absent."""
        ...

    def write_if(self, uri: str, data: bytes, expected: str | None) -> str | None:
        """Compare-and-swap: write only if the current tag is ``expected`` (``None``: only if
        the object does not exist). Returns the new tag, or None if the condition failed."""
        ...


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def join(base: str, *names: str) -> str:
    """``join("s3://b/out/", "run-1", "part.jsonl")`` -> ``s3://b/out/run-1/part.jsonl``."""
    if is_s3(base):
        return "/".join([base.rstrip("/"), *names])
    return str(Path(local_path(base), *names))


def local_path(uri: str) -> Path:
    return Path(uri.removeprefix("file://")).expanduser()


class LocalStorage:
    def info(self, uri: str) -> ObjectInfo:
        path = local_path(uri)
        try:
            st = path.stat()
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc.strerror or exc}") from None
        if not path.is_file():
            raise StorageError(f"{path} is not a file")
        tag = f"{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"
        return ObjectInfo(uri=str(path), size=st.st_size, tag=tag, modified=st.st_mtime)

    def list_files(self, uri: str) -> list[ObjectInfo] | None:
        path = local_path(uri)
        if not path.is_dir():
            return None
        return [self.info(str(p)) for p in sorted(path.iterdir()) if p.is_file()]

    def open_stream(self, obj: ObjectInfo, offset: int = 0) -> Readable:
        fh = self.open_seekable(obj)
        fh.seek(offset)
        return fh

    def open_seekable(self, obj: ObjectInfo) -> BinaryIO:
        try:
            return open(obj.uri, "rb")
        except OSError as exc:
            raise StorageError(f"cannot open {obj.uri}: {exc.strerror or exc}") from None

    def read_bytes(self, uri: str) -> bytes | None:
        try:
            return local_path(uri).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read {uri}: {exc.strerror or exc}") from None

    def write_bytes(self, uri: str, data: bytes) -> None:
        path = local_path(uri)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, data)
        except OSError as exc:
            raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from None

    def exists(self, uri: str) -> bool:
        return os.path.exists(local_path(uri))

    def read_tagged(self, uri: str) -> tuple[bytes, str] | None:
        data = self.read_bytes(uri)
        return None if data is None else (data, hashlib.sha256(data).hexdigest())

    def write_if(self, uri: str, data: bytes, expected: str | None) -> str | None:
        """Under an exclusive ``flock`` on ``<file>.lock``: a compare-and-swap between the
        processes of this host (the local backend serves one machine)."""
        import fcntl

        path = local_path(uri)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(f"{path}.lock", "a+b") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                current = self.read_tagged(uri)
                if (current[1] if current else None) != expected:
                    return None
                write_atomic(path, data)
                return hashlib.sha256(data).hexdigest()
        except OSError as exc:
            raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from None

    def list_dirs(self, uri: str) -> list[str]:
        path = local_path(uri)
        return sorted(p.name for p in path.iterdir() if p.is_dir()) if path.is_dir() else []

    def delete(self, uri: str) -> None:
        path = local_path(uri)
        try:
            path.unlink(missing_ok=True)
            if path.parent.is_dir() and not any(path.parent.iterdir()):
                path.parent.rmdir()  # the last file of a run directory takes it along
        except OSError as exc:
            raise StorageError(f"cannot delete {path}: {exc.strerror or exc}") from None

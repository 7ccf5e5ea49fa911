"""Crash-safe file system steps: fsync what we wrote, then switch with one atomic rename.

POSIX ``rename``/``os.replace`` within one file system is atomic: a reader sees the old or
the new name, never half of either. Data must reach the disk *before* the rename that
publishes it, and the rename itself is only durable once its directory is synced.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def fsync_dir(directory: Path) -> None:
    """Make renames/creations inside ``directory`` durable (no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def fsync_tree(directory: Path) -> None:
    """fsync every regular file directly inside ``directory``, then the directory itself."""
    for path in directory.iterdir():
        if path.is_file() and not path.is_symlink():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
    fsync_dir(directory)


@contextmanager
def atomic_file(path: Path, *, mode: int = 0o644) -> Iterator[BinaryIO]:
    """An open binary file that becomes ``path`` only if the block completes: written to a
    temporary name beside it, fsynced, renamed over ``path``, directory synced. On an error
    (or a crash) ``path`` keeps its old content and the temporary file is removed."""
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new file, never a part."""
    with atomic_file(path, mode=mode) as fh:
        fh.write(data)


def replace_symlink(link: Path, target: str) -> None:
    """Point ``link`` at ``target`` (relative text) atomically: new temp link + os.replace."""
    tmp = link.with_name(f".{link.name}.tmp-{secrets.token_hex(4)}")
    tmp.symlink_to(target)
    try:
        os.replace(tmp, link)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(link.parent)

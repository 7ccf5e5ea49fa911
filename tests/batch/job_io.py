"""Inputs made of real text, `python -m batch` processes, and readers of what a run wrote."""

from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from batch.crashpoints import ENV_PAUSE_AT, ENV_PAUSE_FIFO, PAUSED_EVENT

REPO = Path(__file__).resolve().parents[2]


def short_texts(n: int, *, offset: int = 0) -> list[str]:
    """``n`` short real texts: the first words of stdlib docstrings, made unique."""
    from optimize import corpus

    out = []
    for i, doc in enumerate(corpus.sample(n, offset=offset)):
        words = doc.split()[: 4 + i % 6]
        out.append(f"{' '.join(words)} ({i + offset})")
    return out


def write_jsonl(path: Path, rows: Iterable[dict[str, Any] | str]) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


def input_with_rejects(path: Path, n: int) -> tuple[Path, list[str], int]:
    """JSONL of ``n`` valid records plus a few bad lines; returns (path, valid ids, bad)."""
    rows: list[dict[str, Any] | str] = []
    ids = []
    bad = 0
    for i, text in enumerate(short_texts(n)):
        rows.append({"id": f"doc-{i}", "text": text})
        ids.append(f"doc-{i}")
        if i % 53 == 7:
            rows.append("{this is not json")
            bad += 1
        if i % 71 == 11:
            rows.append({"id": f"empty-{i}", "text": "   "})
            bad += 1
        if i % 97 == 13:
            rows.append({"text": "no id here"})
            bad += 1
    return write_jsonl(path, rows), ids, bad


def run_dir(output: Path) -> Path:
    (found,) = [p for p in output.iterdir() if p.name.startswith("run-")]
    return found


def read_rows(directory: Path, shard: int = 0) -> list[tuple[Any, bytes]]:
    """Every (id, float32 bytes) row of the parts a shard's _SUCCESS marker lists, sorted."""
    from batch.parts import decode_part

    marker = json.loads((directory / f"_SUCCESS-{shard:05d}.json").read_text())
    rows: list[tuple[Any, bytes]] = []
    for name in marker["parts"]:
        fmt = name.rsplit(".", 1)[-1]
        ids, vectors = decode_part(fmt, (directory / name).read_bytes())
        rows.extend(
            (i, np.asarray(v, dtype="<f4").tobytes()) for i, v in zip(ids, vectors, strict=True)
        )
    return sorted(rows, key=lambda r: (str(r[0]), r[1]))


def read_sqlite_cache(path: Path) -> dict[str, tuple[str, bytes]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT key, model_version, vector FROM predictions").fetchall()
    finally:
        conn.close()
    return {k: (v, bytes(b)) for k, v, b in rows}


def batch_args(
    artifact: Path, source: Path | str, output: Path | str, cache: str | None, *extra: str
) -> list[str]:
    args = ["run", "--artifact", str(artifact), "--input", str(source), "--output", str(output)]
    args += ["--cache", cache or "none", "--no-progress", *extra]
    return args


class JobProcess:
    """``python -m batch ...`` in a subprocess; its JSON log events are collected live.

    ``pause_at="<step>:<n>"`` (see :mod:`batch.crashpoints`) makes the job stop at that
    point of its own event sequence and wait on a FIFO in ``fifo_dir`` until
    :meth:`release`; :meth:`wait_for` ``("paused")`` tells when it got there."""

    def __init__(
        self,
        args: list[str],
        env: dict[str, str] | None = None,
        *,
        pause_at: str | None = None,
        fifo_dir: Path | None = None,
    ) -> None:
        self.fifo: Path | None = None
        extra = dict(env or {})
        if pause_at is not None:
            assert fifo_dir is not None, "a paused job needs a directory for its FIFO"
            self.fifo = fifo_dir / f"pause-{time.monotonic_ns()}.fifo"
            os.mkfifo(self.fifo)
            extra |= {ENV_PAUSE_AT: pause_at, ENV_PAUSE_FIFO: str(self.fifo)}
        full_env = {**os.environ, **extra}
        full_env.setdefault("PRECAST_ORT_THREADS", "2")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "batch", *args],
            cwd=REPO,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.events: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            try:
                event = json.loads(line)
            except ValueError:
                continue
            self.events.append(event)
            self._queue.put(event)
        self._queue.put(None)

    def wait_for(self, name: str, count: int = 1, timeout: float = 120.0) -> bool:
        """Block until the ``count``-th ``name`` event; False if the job ended first."""
        deadline = time.monotonic() + timeout
        seen = sum(1 for e in self.events if e.get("event") == name)
        while seen < count:
            try:
                event = self._queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"no {name!r} event in {timeout}s") from None
            if event is None:
                return False
            if event.get("event") == name:
                seen += 1
        return True

    def release(self) -> None:
        """Let a job that announced ``paused`` go on (it holds the FIFO's read end)."""
        assert self.fifo is not None and self.named(PAUSED_EVENT), "the job is not paused"
        fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(fd, b"g")
        finally:
            os.close(fd)

    def signal(self, signum: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)

    def finish(self, timeout: float = 300.0) -> int:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        self._reader.join(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return self.proc.returncode

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == name]


def run_to_end(args: list[str], env: dict[str, str] | None = None) -> JobProcess:
    job = JobProcess(args, env)
    code = job.finish()
    assert code == 0, "".join(job.stderr)[-3000:]
    return job


@dataclass(frozen=True)
class Outcome:
    """What a run left: every output row (id, vector bytes) and every cache entry."""

    rows: list[tuple[Any, bytes]]
    cache: dict[str, tuple[str, bytes]]


CRASH_FLAGS = ("--checkpoint-every", "40", "--chunk-size", "20", "--error-budget", "0.2")


def crash_job_args(artifact: Path, source: Path, where: Path) -> list[str]:
    """The crash and integrity tests' job: output and SQLite cache under ``where``."""
    cache = f"sqlite:{where / 'cache.sqlite'}"
    return batch_args(artifact, source, where / "out", cache, *CRASH_FLAGS)


def outcome(where: Path) -> Outcome:
    rows = read_rows(run_dir(where / "out"))
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids)), "an id was written twice"
    return Outcome(rows, read_sqlite_cache(where / "cache.sqlite"))


KILL = signal.SIGKILL
TERM = signal.SIGTERM

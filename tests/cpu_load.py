"""Run a command while busy processes keep every core loaded (``make test-stress``).

``python -m tests.cpu_load [--per-core N] -- CMD ...`` starts N spinning processes per
core, runs CMD, stops the spinners, and exits with CMD's exit code. Under that load the
code under test runs several times slower, which is what an event-synchronized test must
not notice.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys


def _spin() -> None:
    x = 0
    while True:
        x = (x * 31 + 7) % 1_000_003


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-core", type=int, default=2, help="spinners per core (default 2)")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD ...")
    args = ap.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("give the command to run after --")
    spinners = [
        multiprocessing.Process(target=_spin, daemon=True)
        for _ in range(args.per_core * (os.cpu_count() or 1))
    ]
    for p in spinners:
        p.start()
    print(f"cpu_load: {len(spinners)} spinners on {os.cpu_count()} cores", flush=True)
    try:
        return subprocess.call(command)
    finally:
        for p in spinners:
            p.terminate()
        for p in spinners:
            p.join()


if __name__ == "__main__":
    sys.exit(main())

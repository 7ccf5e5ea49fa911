"""Run every benchmark in one go (``make bench``), then print docs/benchmarks.md's tables.

Each benchmark is a module ``benchmarks.bench_*`` that writes benchmarks/results/<name>.json.
They run one after another, never in parallel, so they do not steal each other's cores.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        module = f"benchmarks.{script.stem}"
        print(f"\n##### {module}", flush=True)
        proc = subprocess.run([sys.executable, "-m", module, *sys.argv[1:]], check=False)
        if proc.returncode:
            failed.append(module)
    subprocess.run([sys.executable, "-m", "benchmarks.report"], check=False)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Where ``precast optimize`` puts artifacts: ``<artifacts_dir>/<model>/<version>/``, and a
``<artifacts_dir>/<model>/latest`` file naming the version written last.

One module owns this layout; the optimizer writes it, every host (CLI, functions, batch
image builds in CDK) reads it through :func:`latest_artifact`.
"""

from __future__ import annotations

from pathlib import Path

from edge.durable_fs import write_atomic
from edge.exceptions import ArtifactError

LATEST_POINTER = "latest"


def read_latest_pointer(model_root: Path) -> Path | None:
    """``model_root/<version>`` named by ``model_root/latest``, or None without a pointer."""
    pointer = model_root / LATEST_POINTER
    if not pointer.is_file():
        return None
    return model_root / pointer.read_text(encoding="utf-8").strip()


def point_latest(model_root: Path, version: str) -> None:
    """Make ``model_root/latest`` name ``version`` (atomically: readers see old or new)."""
    write_atomic(model_root / LATEST_POINTER, f"{version}\n".encode())


def latest_artifact(artifacts_dir: Path, name: str) -> Path:
    """The artifact ``precast optimize`` made last for model ``name``."""
    directory = read_latest_pointer(artifacts_dir / name)
    if directory is None:
        raise ArtifactError(
            f"no artifact for model {name!r} under {artifacts_dir}. "
            f"Run `precast optimize {name}` first."
        )
    if not directory.is_dir():
        raise ArtifactError(
            f"{artifacts_dir / name / LATEST_POINTER} names {directory.name}, which is "
            f"missing; re-run `precast optimize {name}`"
        )
    return directory

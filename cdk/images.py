"""Container images built from the repository root (batch job, Modal deployer).

CDK fingerprints and stages the build context at synth (no Docker needed until deploy),
so the context must leave out the virtualenv, caches and build outputs, or every synth
would hash gigabytes. A ``.dockerignore`` at the root, if present, is honoured as well.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import IgnoreMode, Stage
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from constructs import Construct

from cdk.exceptions import CdkAppError

REPO_CONTEXT_EXCLUDES = (
    ".venv",
    ".git",
    "cdk.out",
    "dist",
    "node_modules",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "**/__pycache__",
    ".precast",
    "tests",
    "benchmarks",
    "htmlcov",
    ".coverage",
    "*.egg-info",
    "build",
)


def context_excludes(project_root: Path, *inside: Path | None) -> list[str]:
    """Excludes for a build context at ``project_root``, plus each ``inside`` directory
    under it: the signing keys (never in an image) and the cloud assembly (or the
    staged context would copy itself)."""
    excludes = list(REPO_CONTEXT_EXCLUDES)
    root = project_root.resolve()
    for directory in inside:
        if directory is not None and directory.resolve().is_relative_to(root):
            relative = directory.resolve().relative_to(root).as_posix()
            if relative not in excludes and relative != ".":
                excludes.append(relative)
    return excludes


def repo_image_asset(
    scope: Construct,
    id_: str,
    *,
    project_root: Path,
    dockerfile: str,
    keys_dir: Path | None = None,
) -> ecr_assets.DockerImageAsset:
    """An x86_64 image built from ``project_root`` with ``dockerfile`` (relative to it)."""
    stage = Stage.of(scope)
    outdir = Path(stage.outdir) if stage is not None else None
    return ecr_assets.DockerImageAsset(
        scope,
        id_,
        directory=str(project_root),
        file=dockerfile,
        platform=ecr_assets.Platform.LINUX_AMD64,
        exclude=context_excludes(project_root, keys_dir, outdir),
        ignore_mode=IgnoreMode.DOCKER,
    )


def container_image(
    scope: Construct,
    *,
    project_root: Path,
    registry_image: str | None,
    keys_dir: Path | None = None,
) -> ecs.ContainerImage:
    """``batch/Dockerfile`` built from the repo root, or a registry image from context."""
    if registry_image:
        return ecs.ContainerImage.from_registry(registry_image)
    if not (project_root / "batch" / "Dockerfile").is_file():
        raise CdkAppError(
            f"{project_root / 'batch' / 'Dockerfile'} not found: the batch target builds "
            "its image from it. Pass `-c precast:containerImage=REPO/IMAGE:TAG` to use a "
            "pushed image instead."
        )
    asset = repo_image_asset(
        scope,
        "BatchImage",
        project_root=project_root,
        dockerfile="batch/Dockerfile",
        keys_dir=keys_dir,
    )
    return ecs.ContainerImage.from_docker_image_asset(asset)

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

from cdk.exceptions import BatchTargetError, CdkAppError
from edge.artifact_layout import latest_artifact
from edge.exceptions import ArtifactError
from precast.project.config import ProjectConfig

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
    build_args: dict[str, str] | None = None,
) -> ecr_assets.DockerImageAsset:
    """An x86_64 image built from ``project_root`` with ``dockerfile`` (relative to it)."""
    stage = Stage.of(scope)
    outdir = Path(stage.outdir) if stage is not None else None
    return ecr_assets.DockerImageAsset(
        scope,
        id_,
        directory=str(project_root),
        file=dockerfile,
        build_args=build_args,
        platform=ecr_assets.Platform.LINUX_AMD64,
        exclude=context_excludes(project_root, keys_dir, outdir),
        ignore_mode=IgnoreMode.DOCKER,
    )


def batch_artifact(config: ProjectConfig, model: str) -> str:
    """The artifact the batch image bakes in for ``model``: its latest version, relative to
    the project root (the build context), checked now so synth names the command to run."""
    try:
        artifact = latest_artifact(config.artifacts_dir, model)
    except ArtifactError as exc:
        raise BatchTargetError(
            f"model {model!r} has a batch target, and its image bakes in the artifact: {exc}"
        ) from exc
    root = config.root.resolve()
    if not artifact.resolve().is_relative_to(root):
        raise BatchTargetError(
            f"the artifact {artifact} is outside the project directory {root}, the image's "
            "build context. Keep [project].artifacts_dir inside it."
        )
    return artifact.resolve().relative_to(root).as_posix()


def container_image(
    scope: Construct,
    id_: str,
    *,
    project_root: Path,
    registry_image: str | None,
    keys_dir: Path | None = None,
    artifact: str | None = None,
) -> ecs.ContainerImage:
    """``batch/Dockerfile`` built from the repo root with ``artifact`` (relative to it) baked
    in as ``/opt/artifact``, or a registry image from context."""
    if registry_image:
        return ecs.ContainerImage.from_registry(registry_image)
    if not (project_root / "batch" / "Dockerfile").is_file():
        raise CdkAppError(
            f"{project_root / 'batch' / 'Dockerfile'} not found: the batch target builds "
            "its image from it. Pass `-c precast:containerImage=REPO/IMAGE:TAG` to use a "
            "pushed image instead."
        )
    if artifact is None:
        raise CdkAppError("the batch image needs an artifact to bake in (batch_artifact())")
    asset = repo_image_asset(
        scope,
        id_,
        project_root=project_root,
        dockerfile="batch/Dockerfile",
        keys_dir=keys_dir,
        build_args={"ARTIFACT": artifact},
    )
    return ecs.ContainerImage.from_docker_image_asset(asset)

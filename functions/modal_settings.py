"""What ``modal deploy functions/modal_app.py`` reads from its environment, typed.

The deploy tooling (``cdk/modal_deployer``) sets the variables; this reads them through the
one contract in :mod:`edge.environment` and says which the container gets, since Modal
re-imports ``modal_app.py`` inside the container. No modal import: a test checks that every
variable the deployer sets is read here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from edge import environment as E

CONTAINER_ARTIFACT_DIR = "/artifact"


@dataclass(frozen=True)
class DeploySettings:
    """What ``modal deploy`` reads from the deploy tooling's environment (edge/environment.py)."""

    artifact_dir: Path  # what the deploy uploads; the container sees CONTAINER_ARTIFACT_DIR
    app_name: str
    gpu: str | None  # None: CPU container
    max_batch_size: int
    batch_wait_ms: int  # @modal.batched takes whole milliseconds
    model: str | None
    memory_snapshot: bool = True  # enable_memory_snapshot on the Modal classes
    auth: str = "proxy"  # E.MODAL_AUTHS: "proxy" sets requires_proxy_auth on the web endpoint

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DeploySettings:
        dirs = E.PRECAST_ARTIFACT_DIR.read(env)
        return cls(
            artifact_dir=dirs[0] if dirs else Path("artifact"),
            app_name=E.PRECAST_MODAL_APP.read(env),
            gpu=E.PRECAST_MODAL_GPU.read(env),
            max_batch_size=E.PRECAST_MAX_BATCH_SIZE.read(env),
            batch_wait_ms=round(E.PRECAST_BATCH_WAIT_MS.read(env)),
            model=E.PRECAST_MODEL.read(env),
            memory_snapshot=E.PRECAST_MODAL_MEMORY_SNAPSHOT.read(env),
            auth=E.PRECAST_MODAL_AUTH.read(env),
        )

    def artifact_files(self) -> list[str]:
        """What the image carries of the artifact: manifest.json and the files of the
        variants Modal runs (ONNX Runtime on CPU and CUDA: the CUDA fp16 variant too)."""
        from edge.manifest import MANIFEST_NAME, read_manifest
        from edge.variant_targets import files_for_target

        if not (self.artifact_dir / MANIFEST_NAME).is_file():
            return []  # no artifact here (modal deploy fails on the missing directory)
        manifest = read_manifest(self.artifact_dir)
        return [MANIFEST_NAME, *files_for_target(manifest, "modal")]

    def container_env(self) -> dict[str, str]:
        """The container's variables: the shipped artifact, micro-batching on a GPU only."""
        env = {
            E.PRECAST_ARTIFACT_DIR.name: CONTAINER_ARTIFACT_DIR,
            E.PRECAST_MICRO_BATCH.name: E.format_bool(self.gpu is not None),
            # the container re-imports this module: it must see what the deploy saw
            E.PRECAST_MODAL_APP.name: self.app_name,
            E.PRECAST_MAX_BATCH_SIZE.name: str(self.max_batch_size),
            E.PRECAST_BATCH_WAIT_MS.name: str(self.batch_wait_ms),
            E.PRECAST_MODAL_MEMORY_SNAPSHOT.name: E.format_bool(self.memory_snapshot),
            E.PRECAST_MODAL_AUTH.name: self.auth,
        }
        for var, value in ((E.PRECAST_MODAL_GPU, self.gpu), (E.PRECAST_MODEL, self.model)):
            if value is not None:
                env[var.name] = value
        return env

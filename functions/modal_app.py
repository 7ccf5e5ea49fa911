"""Modal host: the same Starlette app on a GPU, plus a dynamically batched embed method.

    PRECAST_ARTIFACT_DIR=artifacts/minilm/<version> PRECAST_MODAL_GPU=T4 \\
        modal deploy functions/modal_app.py       # or: modal run ... for the smoke test

Memory snapshots (``[models.X.modal] memory_snapshot``, on by default): the artifact is
verified and loaded with its tokenizer on CPU in ``@modal.enter(snap=True)``, once per
deploy; each container restores that memory and creates the CUDA session (CPU fallback)
and the cache connections in ``@modal.enter(snap=False)``; with CUDA active that session
runs the artifact's CUDA fp16 variant, which the image carries (:mod:`edge.variants`).
With snapshots off both hooks run at every container start, in that order (Modal runs a
class's enter hooks in definition order). ``Web`` serves the HTTP API (concurrent
requests, coalesced by the app's micro-batcher); ``Embedder.embed`` is for Python callers
(``Embedder().embed.remote(text)``), batched by Modal. Both answer through the one serving
path (:class:`functions.inference.ServingPath`): cache first, the same write-back and
cache-failure log. Settings come from the deploy
tooling's environment (``PRECAST_MODAL_GPU`` from ``[models.X.modal] gpu``), read through
the one contract in :mod:`edge.environment`.
"""

from __future__ import annotations

import modal

from functions.modal_settings import CONTAINER_ARTIFACT_DIR, DeploySettings

DEPLOY = DeploySettings.from_env()
ARTIFACT_DIR = str(DEPLOY.artifact_dir)
APP_NAME = DEPLOY.app_name
GPU = DEPLOY.gpu
MAX_BATCH_SIZE = DEPLOY.max_batch_size
BATCH_WAIT_MS = DEPLOY.batch_wait_ms
SNAPSHOT = DEPLOY.memory_snapshot
# Modal web endpoints are public unless they require proxy auth: on by default
# ([models.X.modal] auth = "proxy"); callers send Modal-Key / Modal-Secret headers.
PROXY_AUTH = DEPLOY.auth == "proxy"

ARTIFACT_FILES = DEPLOY.artifact_files()  # manifest + CPU and CUDA variants' files

image = (
    modal.Image.debian_slim(python_version="3.12")
    .pip_install(
        "onnxruntime-gpu>=1.20",
        "numpy>=1.26",
        "tokenizers>=0.20",
        "starlette>=0.40",
        "prometheus-client>=0.20",  # GET /metrics
    )
    # Micro-batching pays on a GPU; on CPU it measured slower (docs/functions.md).
    .env(DEPLOY.container_env())
    .add_local_python_source("edge", "functions")
)
for _name in ARTIFACT_FILES:
    image = image.add_local_file(f"{ARTIFACT_DIR}/{_name}", f"{CONTAINER_ARTIFACT_DIR}/{_name}")
if not ARTIFACT_FILES:  # no manifest there: upload the directory as is (the load names it)
    image = image.add_local_dir(ARTIFACT_DIR, CONTAINER_ARTIFACT_DIR)
app = modal.App(APP_NAME, image=image)

with image.imports():  # type: ignore[no-untyped-call]  # modal leaves it unannotated
    from edge.limits import check_texts
    from functions.app import create_app
    from functions.inference import ServingPath
    from functions.lanes import serving_session_config
    from functions.registry import ModelRegistry
    from functions.settings import resolve_settings


def load_on_cpu() -> ModelRegistry:
    """Snapshot phase: models from PRECAST_ARTIFACT_DIR verified and loaded on the CPU."""
    settings = resolve_settings(max_batch_size=MAX_BATCH_SIZE, batch_wait_ms=BATCH_WAIT_MS)
    session = serving_session_config(
        settings.inference_workers, providers=("CPUExecutionProvider",)
    )
    return ModelRegistry.from_settings(settings, session_config=session)


def attach_device(registry: ModelRegistry) -> list[str]:
    """Restore phase: the CUDA session (CPU if CUDA is absent), fresh cache connections."""
    registry.reconnect()
    workers = resolve_settings().inference_workers
    return registry.use_session(serving_session_config(workers, providers="auto"))


@app.cls(gpu=GPU, scaledown_window=300, timeout=60, enable_memory_snapshot=SNAPSHOT)
@modal.concurrent(max_inputs=64)
class Web:
    @modal.enter(snap=SNAPSHOT)  # Modal allows snap=True only on snapshotting classes
    def load(self) -> None:
        self.registry = load_on_cpu()
        self.phases = ["load"]

    @modal.enter(snap=False)
    def attach(self) -> None:
        self.moved = attach_device(self.registry)
        self.phases.append("attach")

    @modal.asgi_app(requires_proxy_auth=PROXY_AUTH)
    def api(self):  # type: ignore[no-untyped-def]
        settings = resolve_settings(max_batch_size=MAX_BATCH_SIZE, batch_wait_ms=BATCH_WAIT_MS)
        return create_app(self.registry, settings=settings, prometheus=True)


@app.cls(gpu=GPU, scaledown_window=300, timeout=60, enable_memory_snapshot=SNAPSHOT)
class Embedder:
    @modal.enter(snap=SNAPSHOT)  # Modal allows snap=True only on snapshotting classes
    def load(self) -> None:
        self.registry = load_on_cpu()
        self.model_name = self.registry.names()[0]
        self.path = ServingPath(self.registry, resolve_settings(micro_batch=False))
        self.phases = ["load"]

    @modal.enter(snap=False)
    def attach(self) -> None:
        self.moved = attach_device(self.registry)
        self.phases.append("attach")

    @modal.batched(max_batch_size=MAX_BATCH_SIZE, wait_ms=BATCH_WAIT_MS)
    def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text. An invalid text fails its whole batch (Modal's rule)."""
        model = self.registry.get(self.model_name)
        limits = model.limits
        for text in texts:  # each call is one text: check it alone, not the batch size
            check_texts([text], limits)
        prompted = model.prompted(texts)  # the manifest's default prompt, as every host
        result = self.path.serve_blocking(model, prompted)  # Modal batched it: no lanes
        vectors: list[list[float]] = result.vectors.tolist()
        return vectors


@app.local_entrypoint()
def smoke(text: str = "precast runs one artifact on Lambda, Modal and the edge") -> None:
    # @modal.batched: callers pass one item and get one result; modal's stubs see the list.
    vector: list[float] = Embedder().embed.remote(text)  # type: ignore[call-arg, arg-type, assignment]
    norm = sum(x * x for x in vector) ** 0.5
    print(f"{APP_NAME}: {len(vector)} dims, L2 norm {norm:.4f} (GPU: {GPU or 'none'})")

"""The models a process serves, the cache they share, and the hybrid call the serving path uses.

Built once per process: at import on Lambda (init phase, outside the billed request), in
``@modal.enter()`` on Modal, at startup for the local server. Every route reaches the
model and the cache only through :class:`functions.inference.ServingPath`, which calls
:meth:`ModelRegistry.read` and :meth:`ModelRegistry.serve`: the edge hybrid path (cache
first, live inference for the misses, write-back).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import edge
from edge.cache import PredictionCache, open_cache
from edge.hybrid import CacheRead, HybridResult, Item, read_cache, with_cache
from edge.model import EdgeModel, with_session
from edge.session import SessionConfig, resolved_providers
from functions.exceptions import ModelNotFoundError, SettingsError, echo
from functions.settings import ENV_MODEL, Settings


class ModelRegistry:
    def __init__(
        self,
        models: Mapping[str, EdgeModel],
        cache: PredictionCache | None = None,
        *,
        write_back: bool = True,
        cache_ttl_s: float | None = None,
    ) -> None:
        if not models:
            raise SettingsError("a registry needs at least one model")
        self.models = dict(models)
        self.cache = cache
        self.write_back = write_back
        self.cache_ttl_s = cache_ttl_s

    @classmethod
    def from_settings(
        cls, settings: Settings, *, session_config: SessionConfig | None = None
    ) -> ModelRegistry:
        """Load every artifact in ``settings`` (verified) and open the cache URL, if any."""
        models: dict[str, EdgeModel] = {}
        for directory in settings.artifact_dirs:
            model = edge.load(directory, session_config=session_config)
            if model.name in models:
                raise SettingsError(
                    f"two artifacts for model {model.name!r}: {models[model.name].directory} "
                    f"and {directory}; serve one version per model name"
                )
            models[model.name] = model
        if settings.model is not None and settings.model not in models:
            raise SettingsError(
                f"{ENV_MODEL}={settings.model!r} but the artifacts hold "
                f"{'|'.join(sorted(models))}: this deployment ships the wrong model"
            )
        cache = open_cache(settings.cache_url) if settings.cache_url else None
        return cls(models, cache, write_back=settings.write_back, cache_ttl_s=settings.cache_ttl_s)

    def names(self) -> list[str]:
        return sorted(self.models)

    def get(self, name: str) -> EdgeModel:
        try:
            return self.models[name]
        except KeyError:
            raise ModelNotFoundError(
                f"no model named {echo(name)}. Choices are: {'|'.join(self.names())}",
                allowed=self.names(),
                actual=name,
            ) from None

    def read(self, name: str, items: Sequence[Item]) -> CacheRead:
        """The cache lookup alone (blocking I/O for a remote cache; no inference)."""
        model = self.get(name)
        return read_cache(model.version, self.cache, items, model)

    def serve(
        self, name: str, items: Sequence[Item], *, read: CacheRead | None = None
    ) -> HybridResult:
        """Blocking hybrid prediction of checked ``items`` (texts with their prompt, pairs);
        run it in a worker thread from async code. With ``read`` (from :meth:`read`) the
        lookup is not repeated; when it has no misses this only assembles the cached rows
        and is safe on the event loop."""
        return with_cache(
            self.get(name),
            self.cache,
            items,
            write_back=self.write_back,
            ttl_s=self.cache_ttl_s,
            read=read,
        )

    def use_session(self, session_config: SessionConfig) -> list[str]:
        """Move every model whose providers would change onto a new session (a Modal
        container restored from a CPU snapshot creates its CUDA session here); returns the
        names moved. Without another provider available, nothing moves."""
        wanted = resolved_providers(session_config.providers)
        moved = [n for n, m in self.models.items() if m.providers != wanted]
        for name in moved:
            self.models[name] = with_session(self.models[name], session_config)
        return moved

    def reconnect(self) -> None:
        """New cache connections and handles (a SnapStart restore); the models keep theirs:
        an ONNX Runtime session holds no connection and is what the snapshot is for."""
        if self.cache is not None:
            self.cache.reconnect()

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()

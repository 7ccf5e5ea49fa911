"""The models a process serves, the cache they share, and the one predict call the routes use.

Built once per process: at import on Lambda (init phase, outside the billed request), in
``@modal.enter()`` on Modal, at startup for the local server. Every route reaches the
model and the cache only through :meth:`ModelRegistry.predict`, which is the edge hybrid
path (cache first, live inference for the misses, write-back).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import edge
from edge.cache import PredictionCache, open_cache
from edge.hybrid import (
    CacheRead,
    HybridResult,
    pairs_with_cache,
    predict_with_cache,
    read_cache,
    read_pairs,
)
from edge.model import NO_PROMPT, EdgeModel, with_session
from edge.session import SessionConfig, resolved_providers
from functions.batcher import MicroBatcher
from functions.exceptions import ModelNotFoundError, SettingsError, echo
from functions.lanes import InferenceLane
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

    def read(self, name: str, texts: Sequence[str]) -> CacheRead:
        """The cache lookup alone (blocking I/O for a remote cache; no inference)."""
        model = self.get(name)
        return read_cache(model.version, self.cache, texts, model)

    def predict(
        self,
        name: str,
        texts: Sequence[str],
        *,
        enforce_limits: bool = True,
        read: CacheRead | None = None,
    ) -> HybridResult:
        """Blocking hybrid prediction; run it in a worker thread from async code. The
        routes prefix a request's prompt (``EdgeModel.prompted``) before the cache lookup,
        so ``texts`` arrive final here.

        With ``read`` (from :meth:`read`) the lookup is not repeated; when it has no
        misses this only assembles the cached vectors and is safe on the event loop.
        """
        return predict_with_cache(
            self.get(name),
            self.cache,
            texts,
            write_back=self.write_back,
            ttl_s=self.cache_ttl_s,
            enforce_limits=enforce_limits,
            read=read,
            prompt_name=NO_PROMPT,
        )

    def read_pairs(self, name: str, pairs: Sequence[tuple[str, str]]) -> CacheRead:
        """:meth:`read` for (query, passage) pairs, each under its own key."""
        model = self.get(name)
        return read_pairs(model.version, self.cache, pairs, model)

    def predict_pairs(
        self, name: str, pairs: Sequence[tuple[str, str]], *, read: CacheRead | None = None
    ) -> HybridResult:
        """:meth:`predict` for pairs (rankers' scores, sentence-pair labels); the caller
        checked the per-request limits."""
        return pairs_with_cache(
            self.get(name),
            self.cache,
            pairs,
            write_back=self.write_back,
            ttl_s=self.cache_ttl_s,
            read=read,
        )

    def batchers(
        self,
        *,
        max_batch_size: int,
        wait_ms: float,
        max_pending: int | None = None,
        lane: InferenceLane | None = None,
        on_batch: Callable[[str, int], None] | None = None,
    ) -> dict[str, MicroBatcher]:
        """One micro-batcher per model; coalesced batches skip the per-request batch limit."""

        def runner(name: str) -> MicroBatcher:
            def run(texts: list[str]) -> HybridResult:
                if on_batch is not None:
                    on_batch(name, len(texts))
                return self.predict(name, texts, enforce_limits=False)

            return MicroBatcher(
                run,
                max_batch_size=max_batch_size,
                wait_ms=wait_ms,
                max_pending=max_pending,
                lane=lane,
            )

        return {name: runner(name) for name in self.models}

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

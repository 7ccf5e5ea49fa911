"""The tiny models (built once, cached under .precast/test-models/) and their artifacts.

Every artifact is built by the real pipeline (optimum export, ORT fusions, the fp32
recipe, the gate) into one session directory, so each test sees what ``precast optimize``
makes. Nothing comes from a model hub: the suite runs with ``HF_HUB_OFFLINE=1``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import base_models
import pytest
import tiny_models

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parents[2]
BY_NAME = {s.name: s for s in tiny_models.ALL}
# the one tiny embedder whose config allows OpenAI `dimensions` (truncate + renormalize)
TRUNCATE_DIMS = {"bert": (16, 8)}


@pytest.fixture(scope="session", autouse=True)
def _transformers_logs_to_the_session_stderr() -> None:
    """transformers binds its log handler to the ``sys.stderr`` of its first use; were that
    a test's capsys stream (``precast models add`` loads the weights), it would be closed
    for every later warning."""
    from transformers.utils import logging

    logging.get_verbosity()


@pytest.fixture(scope="session")
def tiny_sources() -> dict[str, Path]:
    return tiny_models.build_all(REPO / ".precast" / "test-models")


@pytest.fixture(scope="session")
def base_sources() -> dict[str, Path]:
    """One randomly initialised base-size (12 x 768) model per architecture, built once
    (cached under .precast/test-models/), each config.json naming a pre-training head."""
    return base_models.build_base(REPO / ".precast" / "test-models")


def toml_entry(name: str, source: Path, task: str) -> str:
    dims = f"truncate_dims = {list(TRUNCATE_DIMS[name])}\n" if name in TRUNCATE_DIMS else ""
    return f'[models.{name}]\nsource = "{source}"\ntask = "{task}"\n{dims}' + tiny_models.tiny_gate(
        name
    )


@pytest.fixture(scope="session")
def tiny_project(tiny_sources: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A precast.toml with one fp32 entry per tiny model."""
    root = tmp_path_factory.mktemp("tiny-project")
    entries = [toml_entry(n, p.resolve(), BY_NAME[n].task) for n, p in tiny_sources.items()]
    (root / "precast.toml").write_text("\n".join(entries))
    return root


@pytest.fixture(scope="session")
def tiny_artifacts(tiny_project: Path) -> dict[str, Path]:
    """name -> artifact directory, built with run_optimize (the fp32 recipe)."""
    from optimize.pipeline import run_optimize
    from precast.project.config import load_config

    config = load_config(tiny_project / "precast.toml")
    return {
        name: run_optimize(
            config.model(name), config.artifacts_dir, progress=lambda _m: None
        ).directory
        for name in config.models
    }


@pytest.fixture(scope="session")
def tiny_registry(tiny_artifacts: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Every tiny artifact served by one registry with a SQLite cache."""
    import edge
    from edge.cache import SQLiteCache
    from functions.registry import ModelRegistry

    cache = SQLiteCache(tmp_path_factory.mktemp("tiny-cache") / "cache.sqlite")
    registry = ModelRegistry({n: edge.load(p) for n, p in tiny_artifacts.items()}, cache)
    yield registry
    registry.close()


@pytest.fixture(scope="session")
def tiny_server(tiny_registry: Any, tiny_artifacts: dict[str, Path]) -> Iterator[Any]:
    """``precast serve``'s app over every tiny artifact, on uvicorn on a loopback port."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions"))
    from function_events import LiveServer

    from functions.local_host import create_local_app
    from functions.settings import Settings

    app = create_local_app(tiny_registry, Settings(artifact_dirs=tuple(tiny_artifacts.values())))
    with LiveServer(app) as live:
        yield live
    app.state.replay.close()

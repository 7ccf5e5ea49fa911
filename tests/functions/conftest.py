"""Fixtures for the function hosts: recorded events, the Lambda handler module, a live server.

The Lambda handler is imported once per session the way Lambda does it (module level,
settings from the environment): the sample artifact, a SQLite cache in a temp dir, tracing
off (no X-Ray daemon here). The live server is real uvicorn on a free loopback port.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from function_events import LAMBDA_ENV


@pytest.fixture(scope="session")
def lambda_module(
    sample_artifact: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModuleType]:
    """``functions.lambda_handler`` imported with the sample artifact and a SQLite cache."""
    cache = tmp_path_factory.mktemp("lambda-cache") / "cache.sqlite"
    with pytest.MonkeyPatch.context() as mp:
        for k, v in LAMBDA_ENV.items():
            mp.setenv(k, v)
        mp.setenv("PRECAST_ARTIFACT_DIR", str(sample_artifact))
        mp.setenv("PRECAST_CACHE_URL", f"sqlite:{cache}")
        mp.delenv("PRECAST_MODELS_DIR", raising=False)
        mp.delenv("PRECAST_MAX_BODY_BYTES", raising=False)
        sys.modules.pop("functions.lambda_handler", None)
        module = importlib.import_module("functions.lambda_handler")
        yield module
    module.registry.close()


@pytest.fixture
def invoke(lambda_module: ModuleType) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Call the handler like Lambda does: (event, context) -> Function URL response dict."""
    from functions.local_host import LocalLambdaContext

    def call(event: dict[str, Any]) -> dict[str, Any]:
        response: dict[str, Any] = lambda_module.handler(event, LocalLambdaContext())
        return response

    return call


@pytest.fixture(autouse=True)
def _powertools_logs_to_live_stdout() -> None:
    """powertools binds its handler to the sys.stdout of the moment it is first built; under
    pytest that may be a capture stream that is closed by now. Point it at today's."""
    for handler in logging.getLogger(LAMBDA_ENV["POWERTOOLS_SERVICE_NAME"]).handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.stream = sys.stdout

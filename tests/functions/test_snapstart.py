"""Lambda SnapStart runtime hooks, called in-process the way Lambda's runtime calls them.

Lambda runs the init phase once per published version, calls the before-snapshot hooks,
snapshots, and calls the after-restore hooks in every environment it restores. Here the
handler module is imported (the init phase), the hooks run, and the handler must still
answer: against a real moto_server over HTTP that was stopped and started again in
between (a new process on the same port, as a restored environment finds the world), and
against the embedded SQLite cache.
"""

from __future__ import annotations

import importlib
import random
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import numpy as np
import pytest
from function_events import LAMBDA_ENV, free_port, load_event, response_json, with_body

from edge.cache.circuit import CLOSED, OPEN
from functions import snapstart
from functions.local_host import LocalLambdaContext
from optimize import corpus

PREDICT = "function_url_predict.json"
VENV_BIN = Path(sys.executable).parent


class MotoServer:
    """A moto_server process on a fixed loopback port that a test can stop and start."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = VENV_BIN / "moto_server"
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "moto.server"]
        self.proc = subprocess.Popen(
            [*cmd, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1)  # loopback
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.2)  # bounded poll until it answers; decides no assertion

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.proc = None

    def create_table(self, name: str) -> None:
        client = boto3.client("dynamodb", endpoint_url=self.url, region_name="us-east-1")
        client.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )


@pytest.fixture
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    yield server
    server.stop()


def _import_handler(mp: pytest.MonkeyPatch, env: dict[str, str]) -> ModuleType:
    for k, v in {**LAMBDA_ENV, **env}.items():
        mp.setenv(k, v)
    for var in ("PRECAST_MODELS_DIR", "PRECAST_MAX_BODY_BYTES", "AWS_PROFILE"):
        mp.delenv(var, raising=False)
    sys.modules.pop("functions.lambda_handler", None)
    try:
        return importlib.import_module("functions.lambda_handler")
    finally:
        sys.modules.pop("functions.lambda_handler", None)  # the session fixture imports its own


@pytest.fixture
def dynamodb_handler(sample_artifact: Path, moto_server: MotoServer) -> Iterator[ModuleType]:
    """The handler's init phase with a DynamoDB cache on ``moto_server``. One failure opens
    the circuit for an hour: only a reset can close it within this test."""
    table = f"precast-{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        moto_server.create_table(table)
        query = (
            f"endpoint={moto_server.url}&region=us-east-1&failures=1&cooldown_s=3600&timeout_s=5"
        )
        module = _import_handler(
            mp,
            {
                "PRECAST_ARTIFACT_DIR": str(sample_artifact),
                "PRECAST_CACHE_URL": f"dynamodb:{table}?{query}",
            },
        )
        module.table = table
        yield module
        module.registry.close()


@pytest.fixture
def sqlite_handler(sample_artifact: Path, tmp_path: Path) -> Iterator[ModuleType]:
    with pytest.MonkeyPatch.context() as mp:
        module = _import_handler(
            mp,
            {
                "PRECAST_ARTIFACT_DIR": str(sample_artifact),
                "PRECAST_CACHE_URL": f"sqlite:{tmp_path / 'cache.sqlite'}",
            },
        )
        yield module
        module.registry.close()


def _predict(module: ModuleType, texts: list[str]) -> dict[str, Any]:
    event = with_body(load_event(PREDICT), __import__("json").dumps({"inputs": texts}))
    response = module.handler(event, LocalLambdaContext())
    assert response["statusCode"] == 200, response["body"]
    body: dict[str, Any] = response_json(response)
    return body


def _hooks(module: ModuleType) -> tuple[Any, ...]:
    state = module.snapshot or snapstart.SnapshotState()
    return (module.registry, module.logger, state)


@pytest.mark.integration
def test_restore_reconnects_to_a_restarted_moto_server(
    dynamodb_handler: ModuleType, moto_server: MotoServer
) -> None:
    """GIVEN the handler initialized against moto_server, whose circuit opened while the server
    was down (as a snapshot may capture it) WHEN the before-snapshot hook runs, moto_server
    comes back as a new process on the same port and the after-restore hook runs THEN the
    handler answers from a new boto3 client, the circuit is closed and the cache works
    again: the first request writes its vector, the second reads it back."""
    module = dynamodb_handler
    cache = module.registry.cache
    warm = _predict(module, corpus.sample(1, offset=2000))
    assert warm["cache"]["error"] is None and warm["cache"]["misses"] == 1

    moto_server.stop()
    down = _predict(module, corpus.sample(1, offset=2001))  # still served, live
    assert down["cache"]["error"] is not None
    assert cache.breaker.state == OPEN
    old_client = cache.client

    snapstart.before_snapshot(*_hooks(module))
    moto_server.start()  # new process, empty state: the table is created again
    moto_server.create_table(module.table)
    snapstart.after_restore(*_hooks(module))

    assert cache.client is not old_client
    assert cache.breaker.state == CLOSED
    texts = corpus.sample(2, offset=2002)
    first = _predict(module, texts)
    assert first["cache"] == {"hits": 0, "misses": 2, "error": None}
    second = _predict(module, texts)
    assert second["cache"] == {"hits": 2, "misses": 0, "error": None}
    np.testing.assert_array_equal(
        np.asarray(first["predictions"], np.float32), np.asarray(second["predictions"], np.float32)
    )


def test_restore_reopens_sqlite_reseeds_and_logs(
    sqlite_handler: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    """GIVEN the handler with a SQLite cache that already holds a prediction WHEN the hooks run
    THEN this thread's SQLite handle is a new one, ``random`` and NumPy draw other numbers
    than their snapshotted seed would give, the smoke check ran again, one ``restored from
    snapshot`` line is logged, and the handler still answers the cached text from the cache."""
    module = sqlite_handler
    text = corpus.sample(1, offset=2100)
    assert _predict(module, text)["cache"]["misses"] == 1
    old_conn = module.registry.cache._conn()

    random.seed(1234)
    np.random.seed(1234)
    seeded = (random.random(), float(np.random.random()))
    random.seed(1234)
    np.random.seed(1234)
    state = snapstart.SnapshotState()
    snapstart.before_snapshot(module.registry, module.logger, state)
    snapstart.after_restore(module.registry, module.logger, state)
    assert random.random() != seeded[0]
    assert float(np.random.random()) != seeded[1]

    assert module.registry.cache._conn() is not old_conn
    assert state.restores == 1 and state.last_restore is not None
    assert state.last_restore["smoke_min_cosine"] == {"minilm": pytest.approx(1.0, abs=1e-6)}
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("taking snapshot") == 1
    assert messages.count("restored from snapshot") == 1
    again = _predict(module, text)
    assert again["cache"] == {"hits": 1, "misses": 0, "error": None}


def test_hooks_register_with_lambdas_runtime_module(sqlite_handler: ModuleType) -> None:
    """GIVEN snapshot_restore_py (what Lambda's Python runtime ships) WHEN the handler module
    initializes THEN it registered both hooks with the registry they act on, and running them
    in the runtime's order leaves a handler that answers."""
    from snapshot_restore_py import get_after_restore, get_before_snapshot

    module = sqlite_handler
    state = module.snapshot
    assert isinstance(state, snapstart.SnapshotState)
    mine = (module.registry, module.logger, state)
    before = [f for f, args, _ in get_before_snapshot() if args == mine]
    after = [f for f, args, _ in get_after_restore() if args == mine]
    assert before == [snapstart.before_snapshot]
    assert after == [snapstart.after_restore]
    for func in reversed(before):  # the runtime pops before-snapshot hooks: last in, first run
        func(*mine)
    for func in after:
        func(*mine)
    assert state.restores == 1
    assert _predict(module, corpus.sample(1, offset=2200))["cache"]["error"] is None


def test_no_runtime_module_registers_nothing(
    sqlite_handler: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a Python without snapshot_restore_py (off Lambda) WHEN registering THEN None."""
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import raises ImportError
    assert snapstart.register(sqlite_handler.registry, sqlite_handler.logger) is None

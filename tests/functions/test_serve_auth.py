"""Issue 24 row 10: `precast serve` authenticates with a bearer token, on a real process.

Before: `precast serve` had no authentication option at all, and `--host 0.0.0.0` served
every route to anyone who could reach it. Now every route but /healthz needs
``Authorization: Bearer <token>`` (from ``--token-file`` or ``$PRECAST_API_TOKEN``), a
missing or wrong token is a 401 with ``WWW-Authenticate: Bearer`` and the error body, and a
non-loopback ``--host`` without a token is refused unless ``--insecure-no-auth``. Clients
are the real ones: the ``openai`` SDK sends its ``api_key`` as the bearer token, and so does
``huggingface_hub.InferenceClient`` its ``token``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
from function_events import free_port

from edge.environment import PRECAST_API_TOKEN
from precast.commands.serve import api_token
from precast.project.exceptions import ConfigError

pytestmark = [pytest.mark.slow, pytest.mark.integration]

TOKEN = "s3cret-test-token-2f9c"
PROTECTED = [
    ("GET", "/v1/models"),
    ("GET", "/openapi.json"),
    ("GET", "/metrics"),
    ("GET", "/info"),
    ("POST", "/v1/models/minilm/predict"),
    ("POST", "/v1/embeddings"),
    ("POST", "/embed"),
    ("POST", "/2015-03-31/functions/function/invocations"),
]


def _precast(*args: str) -> list[str]:
    return [sys.executable, "-m", "precast.cli", "serve", "minilm", *args]


@pytest.fixture(scope="module")
def url(
    repo_root: Path, sample_artifact: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    token_file = tmp_path_factory.mktemp("auth") / "token"
    token_file.write_text(f"{TOKEN}\n", encoding="utf-8")
    port = free_port()
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true"}
    env.pop(PRECAST_API_TOKEN.name, None)
    proc = subprocess.Popen(
        _precast("--port", str(port), "--cache", "none", "--log-level", "warning",
                 "--token-file", str(token_file)),
        cwd=repo_root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            httpx.get(f"{base}/healthz", timeout=2).raise_for_status()  # open: no token
            break
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(proc.stdout.read() if proc.stdout else "") from None
            time.sleep(0.2)  # bounded poll until it answers; decides no assertion
    try:
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert "auth: bearer token" in out
    assert TOKEN not in out


def test_the_openai_sdk_with_the_token_gets_embeddings(url: str) -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=TOKEN, max_retries=0)
    got = client.embeddings.create(model="minilm", input=["hello", "world"])
    assert len(got.data) == 2 and len(got.data[0].embedding) > 0


@pytest.mark.parametrize("key", ["wrong-token", TOKEN + "x", TOKEN[:-1]])
def test_the_openai_sdk_with_a_wrong_token_raises_authentication_error(url: str, key: str) -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as err:
        client.embeddings.create(model="minilm", input="hello")
    assert err.value.status_code == 401
    assert err.value.response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Basic czNjcmV0", f"Token {TOKEN}", "Bearer nope"]
)
def test_every_route_but_healthz_needs_the_token(
    url: str, method: str, path: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"authorization": authorization}
    r = httpx.request(method, f"{url}{path}", headers=headers, json={"inputs": "hi"})
    assert r.status_code == 401, r.text[:300]
    assert r.headers["www-authenticate"].startswith("Bearer")
    error = r.json()["error"]
    assert error["type"] == "unauthorized" and error["message"]


def test_healthz_is_open_and_the_api_serves_with_the_token(url: str) -> None:
    assert httpx.get(f"{url}/healthz").status_code == 200
    auth = {"authorization": f"Bearer {TOKEN}"}
    assert httpx.get(f"{url}/v1/models", headers=auth).status_code == 200
    assert httpx.get(f"{url}/openapi.json", headers=auth).status_code == 200


def test_huggingface_inference_client_with_the_token(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants
    from huggingface_hub import InferenceClient
    from huggingface_hub.errors import HfHubHTTPError

    # the suite runs offline; the client's guard refuses every URL, loopback included
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    got = InferenceClient(model=f"{url}/embed", token=TOKEN).feature_extraction("hello")
    assert np.asarray(got).size > 0
    with pytest.raises(HfHubHTTPError) as err:
        InferenceClient(model=f"{url}/embed", token="wrong").feature_extraction("hello")
    assert err.value.response is not None and err.value.response.status_code == 401


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com"])
def test_a_non_loopback_host_without_a_token_is_refused(repo_root: Path, host: str) -> None:
    """GIVEN no token WHEN `precast serve --host <not loopback>` THEN it exits non-zero at
    once, saying how to set a token or opt out, and binds nothing."""
    env = {k: v for k, v in os.environ.items() if k != PRECAST_API_TOKEN.name}
    done = subprocess.run(
        _precast("--host", host, "--port", str(free_port())),
        cwd=repo_root, capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert PRECAST_API_TOKEN.name in done.stderr
    assert "--token-file" in done.stderr and "--insecure-no-auth" in done.stderr


def _args(host: str, **kw: object) -> argparse.Namespace:
    return argparse.Namespace(
        host=host, token_file=kw.get("token_file"), insecure_no_auth=kw.get("insecure", False)
    )


def test_where_the_token_comes_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PRECAST_API_TOKEN.name, raising=False)
    assert api_token(_args("127.0.0.1")) is None  # loopback: no token needed
    assert api_token(_args("localhost")) is None
    assert api_token(_args("::1")) is None
    assert api_token(_args("0.0.0.0", insecure=True)) is None  # opted out explicitly
    monkeypatch.setenv(PRECAST_API_TOKEN.name, " from-env ")
    assert api_token(_args("0.0.0.0")) == "from-env"
    path = tmp_path / "token"
    path.write_text("from-file\n", encoding="utf-8")
    assert api_token(_args("0.0.0.0", token_file=path)) == "from-file"
    path.write_text("  \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="is empty"):
        api_token(_args("0.0.0.0", token_file=path))
    with pytest.raises(ConfigError, match="--token-file"):
        api_token(_args("0.0.0.0", token_file=tmp_path / "missing"))

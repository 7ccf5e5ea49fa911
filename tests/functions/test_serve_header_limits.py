"""Issue 24 row 8: `precast serve` bounds request heads, on a real `precast serve` process.

Before: uvicorn's httptools protocol accepted a 64 MiB header (200 OK, RSS +66 MB, /healthz
stalled), held six unfinished 24 MiB headers (+172 MB) and never timed out 150 connections
dripping header bytes. Now (functions/local_protocol.py) a head past ``--max-header-bytes``
is a 431 and the connection closes, and a head not complete within ``--header-timeout-s``
is a 408 and the connection closes.

Nothing here decides on the clock: the tests wait for the server's own answers and closes;
the only timings are generous upper bounds on how long the server may take to cut a
client off.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from function_events import free_port

from edge.environment import DEFAULT_HEADER_TIMEOUT_S, DEFAULT_MAX_HEADER_BYTES

pytestmark = [pytest.mark.slow, pytest.mark.integration]

MAX_HEADER_BYTES = 16 * 1024  # the test server's limit (the default is DEFAULT_MAX_HEADER_BYTES)
HEADER_TIMEOUT_S = 1.0  # the test server's header timeout
CUT_OFF_WITHIN_S = 60.0  # generous upper bound for the server to close a slow client
MiB = 1024 * 1024


class Serve:
    def __init__(self, proc: subprocess.Popen[str], url: str, port: int) -> None:
        self.proc, self.url, self.port = proc, url, port

    def rss(self) -> int:
        return int(psutil.Process(self.proc.pid).memory_info().rss)

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=CUT_OFF_WITHIN_S)


@pytest.fixture(scope="module")
def serve(repo_root: Path, sample_artifact: Path) -> Iterator[Serve]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "precast.cli", "serve", "minilm", "--port", str(port),
         "--cache", "none", "--log-level", "warning",
         "--max-header-bytes", str(MAX_HEADER_BYTES),
         "--header-timeout-s", str(HEADER_TIMEOUT_S)],
        cwd=repo_root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "POWERTOOLS_TRACE_DISABLED": "true"},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            httpx.get(f"{url}/healthz", timeout=2).raise_for_status()
            break
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(proc.stdout.read() if proc.stdout else "") from None
            time.sleep(0.2)  # bounded poll until it answers; decides no assertion
    try:
        yield Serve(proc, url, port)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a reset counts as one)."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def _error(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    error: dict[str, object] = json.loads(body)["error"]
    return status, error


def _healthy(serve: Serve) -> None:
    assert httpx.get(f"{serve.url}/healthz", timeout=CUT_OFF_WITHIN_S).status_code == 200


def test_the_defaults_are_in_the_help(repo_root: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "precast.cli", "serve", "--help"],
        cwd=repo_root, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    flat = " ".join(out.split())
    assert f"(default: {DEFAULT_MAX_HEADER_BYTES})" in flat
    assert f"(default: {DEFAULT_HEADER_TIMEOUT_S:g})" in flat


def test_a_header_just_over_the_limit_is_431_with_the_error_body(serve: Serve) -> None:
    """GIVEN a request whose head is half the limit THEN it is served; GIVEN one just over
    THEN it is a 431 with the error body naming max_header_bytes, and the server serves on."""
    under = httpx.post(
        f"{serve.url}/embed",
        json={"inputs": "hello"},
        headers={"x-some": "c" * (MAX_HEADER_BYTES // 2)},
        timeout=CUT_OFF_WITHIN_S,
    )
    assert under.status_code == 200 and len(under.json()[0]) > 0
    with serve.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * MAX_HEADER_BYTES)
        status, error = _error(_read_until_closed(sock))
    assert status == 431
    assert error["type"] == "header_too_large"
    assert (error["limit"], error["allowed"]) == ("max_header_bytes", MAX_HEADER_BYTES)
    _healthy(serve)


def test_a_64_mib_header_is_cut_off_while_healthz_answers(serve: Serve) -> None:
    """GIVEN a client streaming a 64 MiB header WHEN the server has read past the limit THEN
    it closes the connection (the client cannot send the rest) and /healthz answers."""
    rss_before = serve.rss()
    sent = 0
    failed: list[BaseException] = []

    def stream() -> None:
        nonlocal sent
        piece = b"a" * MiB
        with serve.connect() as sock:
            try:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
                for _ in range(64):
                    sock.sendall(piece)
                    sent += len(piece)
                sock.sendall(b"\r\n\r\n")
            except OSError as exc:  # the server closed it: what this test expects
                failed.append(exc)

    sender = threading.Thread(target=stream)
    sender.start()
    _healthy(serve)  # while the header streams (or after it was cut off)
    sender.join(CUT_OFF_WITHIN_S)
    assert not sender.is_alive()
    assert failed, f"the server read a whole 64 MiB header ({sent} bytes sent)"
    assert sent < 64 * MiB
    _healthy(serve)
    assert serve.rss() - rss_before < 32 * MiB


def test_unfinished_large_headers_are_closed_and_hold_no_memory(serve: Serve) -> None:
    """GIVEN six connections each sending an unfinished 24 MiB header THEN the server closes
    each one before its 24 MiB are in, and its memory does not grow with them."""
    rss_before = serve.rss()
    results: list[int] = []
    lock = threading.Lock()

    def hold() -> None:
        piece = b"b" * MiB
        sent = 0
        with serve.connect() as sock:
            try:
                sock.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\nX-Big: ")
                for _ in range(24):
                    sock.sendall(piece)
                    sent += len(piece)
                _read_until_closed(sock)  # all sent: the server must close it anyway
            except OSError:
                pass
        with lock:
            results.append(sent)

    threads = [threading.Thread(target=hold) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(CUT_OFF_WITHIN_S)
    assert not any(t.is_alive() for t in threads), "a connection was held open"
    assert len(results) == 6 and all(sent < 24 * MiB for sent in results), results
    assert serve.rss() - rss_before < 32 * MiB
    _healthy(serve)


def test_connections_dripping_header_bytes_are_closed_with_408(serve: Serve) -> None:
    """GIVEN 150 connections that send a request head a few bytes at a time THEN the server
    answers each 408 and closes it once --header-timeout-s has passed since it opened."""
    socks = [serve.connect() for _ in range(150)]
    start = time.monotonic()
    try:
        for sock in socks:
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        answers: dict[int, bytes] = {}
        while len(answers) < len(socks):  # drip one header line per round until all closed
            assert time.monotonic() - start < CUT_OFF_WITHIN_S, f"{len(answers)} closed"
            for i, sock in enumerate(socks):
                if i in answers:
                    continue
                try:
                    sock.sendall(b"X-Drip: 1\r\n")
                except OSError:
                    answers[i] = _read_until_closed(sock)
                    continue
                sock.settimeout(0.01)  # poll for the answer between drips; decides nothing
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    continue
                except ConnectionResetError:  # closed while a drip was in flight
                    chunk = b""
                finally:
                    sock.settimeout(CUT_OFF_WITHIN_S)
                answers[i] = chunk + (_read_until_closed(sock) if chunk else b"")
        statuses = {_error(a)[0] for a in answers.values() if a}
        assert statuses == {408}, statuses  # every answer that arrived before the close
        _, error = _error(next(a for a in answers.values() if a))
        assert (error["limit"], error["allowed"]) == ("header_timeout_s", HEADER_TIMEOUT_S)
    finally:
        for sock in socks:
            sock.close()
    _healthy(serve)


def test_a_silent_connection_is_closed_with_408(serve: Serve) -> None:
    with serve.connect() as sock:
        status, error = _error(_read_until_closed(sock))
    assert (status, error["type"]) == (408, "header_timeout")


def test_a_body_arriving_with_its_head_does_not_count_as_head(serve: Serve) -> None:
    """GIVEN a POST whose small head and 42 KiB body (over the 16 KiB head limit) arrive in
    one write, then a second such request on the same kept-alive connection WHEN the server
    parses them THEN both are answered 200: only head bytes count against the limit."""
    texts = ["word " * 1400] * 6
    body = json.dumps({"model": "minilm", "input": texts}).encode()
    assert len(body) > 2 * MAX_HEADER_BYTES
    request = (
        b"POST /v1/embeddings HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    with serve.connect() as sock:
        for _ in range(2):
            sock.sendall(request)
            answer = b""
            while b"\r\n\r\n" not in answer:
                answer += sock.recv(65536)
            assert answer.split(b" ", 2)[1] == b"200", answer[:300]
            head, _, rest = answer.partition(b"\r\n\r\n")
            length = int(
                next(
                    line.split(b":", 1)[1]
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
            )
            while len(rest) < length:
                rest += sock.recv(65536)

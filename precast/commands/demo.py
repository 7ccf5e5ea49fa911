"""``precast demo``: the README's main job, the whole local loop on the sample model.

optimize -> sign a bundle and load it as a device would -> embed and compare a few
sentences -> batch-precompute a sample input into the local cache -> serve the function app
on 127.0.0.1 and query it (precomputed texts hit the cache; new texts miss once, then hit).
Each step prints what it measured. Everything stays on this machine: the cache is the SQLite
file from ``project.cache``, demo files go to ``.precast/demo/``.
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

KNOWN_TEXTS = 200  # the sample batch input: stdlib docstrings the batch step precomputes
QUERY_TEXTS = 8  # texts per demo request
NEW_TEXTS = [  # what users ask that no batch run has seen
    "How do I reset my password?",
    "The delivery arrived two days late.",
    "Is the museum open on public holidays?",
    "Our quarterly revenue grew by twelve percent.",
    "The kitten fell asleep on the keyboard.",
    "Which train goes to the airport?",
    "Heavy rain is expected over the weekend.",
    "Please cancel my subscription.",
]
SENTENCES = [
    "A man is playing a guitar on stage.",
    "Someone performs music with a stringed instrument.",
    "The stock market fell sharply this morning.",
    "Shares dropped at the opening bell.",
]


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole local loop on the sample model and print what it measured",
        description=(
            "The main job, on the embedded local default (no AWS account, no network):\n"
            "1. optimize the model and print the recipe table (size, speed, accuracy);\n"
            "2. sign an edge bundle, load it as a device would, print sentence similarities;\n"
            "3. batch-precompute a sample JSONL into the local SQLite cache;\n"
            "4. serve the function app on 127.0.0.1 and query it: precomputed texts are\n"
            "   cache hits, new texts miss once and then hit; print latencies, hit ratio.\n"
            "Re-running reuses the artifact, bundle and batch run (nothing is recomputed)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", nargs="?", default="minilm", help="model from precast.toml")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import edge
    from optimize.pipeline import format_report, run_optimize
    from precast.commands.optimize import print_summary
    from precast.project.config import load_config

    cfg = load_config(args.config)
    model_cfg = cfg.model(args.model)
    _banner("1. optimize: export -> quantize -> measure -> select")
    result = run_optimize(model_cfg, cfg.artifacts_dir)
    print_summary(result.manifest, str(result.directory), reused=result.reused, fmt=format_report)

    _banner("2. bundle: sign the artifact for edge devices, then open it as a device would")
    bundle = _bundle(cfg, args.model)
    t0 = time.perf_counter()
    model = edge.load(bundle.path, public_key=cfg.keys_dir / "targets.pub")
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    vectors = model.predict(SENTENCES)
    predict_ms = (time.perf_counter() - t0) * 1000
    print(
        f"verified + loaded {model.name} {model.version} from the bundle in {load_s:.2f}s; "
        f"{len(SENTENCES)} sentences in {predict_ms:.1f} ms -> {vectors.shape}"
    )
    sims = vectors @ vectors.T
    for i, s in enumerate(SENTENCES):
        print(f"  [{i}] {s}")
    print("cosine similarity:")
    print("      " + "".join(f"[{j}]   " for j in range(len(SENTENCES))))
    for i in range(len(SENTENCES)):
        print(f"  [{i}] " + " ".join(f"{sims[i, j]:.3f}" for j in range(len(SENTENCES))))
    del model

    demo_dir = cfg.root / ".precast" / "demo"
    _banner("3. batch: precompute a sample input into the cache (hybrid mode: batch for the known)")
    known = _batch(cfg, model_cfg, result.directory, demo_dir)

    _banner("4. serve: the function app on 127.0.0.1, cache first, live inference for the rest")
    return _serve_and_query(cfg, model_cfg, result.directory, known)


def _batch(cfg: Any, model_cfg: Any, artifact: Path, demo_dir: Path) -> list[str]:
    """Write the sample input (stdlib docstrings) and run one batch shard over it."""
    from batch.job import run_job
    from batch.settings import JobSettings
    from optimize import corpus

    known = corpus.sample(KNOWN_TEXTS, offset=len(corpus.stdlib_docstrings()) // 2)
    demo_dir.mkdir(parents=True, exist_ok=True)
    source = demo_dir / "known.jsonl"
    lines = [json.dumps({"id": f"doc-{i:04d}", "text": t}) for i, t in enumerate(known)]
    _write_if_changed(source, "\n".join(lines) + "\n")
    settings = JobSettings(
        artifact=str(artifact),
        input=str(source),
        output=str(demo_dir / "batch-out"),
        cache_url=cfg.cache,
        ttl_s=model_cfg.serving.cache_ttl_days * 86_400,
        checkpoint_every=model_cfg.batch.checkpoint_every,
        error_budget=model_cfg.batch.error_budget,
    )
    print(f"input {source} ({len(known)} records) -> cache {cfg.cache}")
    with (demo_dir / "batch-log.jsonl").open("a", encoding="utf-8") as log:
        code = run_job(settings, log_stream=log)
    if code != 0:
        raise RuntimeError(f"the demo batch run exited {code}; see {demo_dir / 'batch-log.jsonl'}")
    return known


def _serve_and_query(cfg: Any, model_cfg: Any, artifact: Path, known: list[str]) -> int:
    import uvicorn

    from functions.local_host import create_local_app
    from functions.registry import ModelRegistry
    from functions.settings import resolve_settings

    settings = resolve_settings(
        artifact_dirs=(artifact,),
        cache_url=cfg.cache,
        write_back=model_cfg.serving.write_back,
        cache_ttl_s=model_cfg.serving.cache_ttl_days * 86_400.0,
        micro_batch=False,
    )
    registry = ModelRegistry.from_settings(settings)
    app = create_local_app(registry, settings)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, "127.0.0.1", port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="precast-demo-server", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the demo server did not start on 127.0.0.1:{port}")
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/v1/models/{model_cfg.name}/predict"
        print(f"serving {model_cfg.name} on http://127.0.0.1:{port} (cache {cfg.cache})")
        # New texts carry this run's id, so they are new on every run of the demo.
        run_id = uuid.uuid4().hex[:8]
        fresh = [f"{s} (demo run {run_id})" for s in NEW_TEXTS[:QUERY_TEXTS]]
        queries = [
            ("precomputed by the batch step", known[:QUERY_TEXTS]),
            ("new texts, first time", fresh),
            ("the same new texts again", fresh),
        ]
        print(f"  {'query':32} {'inputs':>6} {'cache hits':>10} {'latency':>10}")
        hits = total = 0
        _post(url, SENTENCES[:1])  # warm-up (first inference), not shown
        for label, texts in queries:
            body, ms = _post(url, texts)
            n_hit = sum(body["cached"])
            hits, total = hits + n_hit, total + len(texts)
            print(f"  {label:32} {len(texts):>6} {n_hit:>6}/{len(texts):<3} {ms:>8.1f} ms")
        print(f"hit ratio {hits}/{total} = {hits / total:.0%}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        app.state.replay.close()
        registry.close()
    return 0


def _post(url: str, texts: list[str]) -> tuple[dict[str, Any], float]:
    data = json.dumps({"inputs": texts}).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        body = json.load(response)
    return body, (time.perf_counter() - t0) * 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_if_changed(path: Path, text: str) -> None:
    """Keep the file (and so the batch run id) stable across demo runs."""
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _bundle(cfg: Any, model: str) -> Any:
    from edge import signing
    from precast.commands.bundle import make_bundle

    if not signing.role_key_names(cfg.keys_dir, "targets"):
        made = signing.generate_role_keys(cfg.keys_dir)
        ids = ", ".join(f"{r} {v[0].public_key.keyid[:8]}" for r, v in made.items())
        print(f"generated channel keys in {cfg.keys_dir} ({ids})")
    b = make_bundle(cfg, model)
    state = "reused" if b.reused else "wrote"
    print(
        f"{state} {b.path} ({b.size / 1e6:.1f} MB, sha256 {b.sha256[:12]}…, "
        f"bundle.sig by targets key {b.key_id[:16]}); channel {b.channel}"
    )
    return b


def _banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)

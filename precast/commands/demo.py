"""``precast demo``: the README's main job, the whole local loop on the sample model.

optimize -> sign a bundle and load it as a device would -> embed and compare a few
sentences. Each step prints what it measured.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

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
            "optimize the model, then embed a few sentences and print their similarities."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", nargs="?", default="minilm", help="model from precast.toml")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import edge
    from optimize.pipeline import format_report, run_optimize
    from precast.commands.optimize import print_summary
    from precast.config import load_config

    cfg = load_config(args.config)
    model_cfg = cfg.model(args.model)
    _banner("1. optimize: export -> quantize -> measure -> select")
    result = run_optimize(model_cfg, cfg.artifacts_dir)
    print_summary(result.manifest, str(result.directory), reused=result.reused, fmt=format_report)

    _banner("2. bundle: sign the artifact for edge devices, then open it as a device would")
    bundle = _bundle(cfg, args.model)
    t0 = time.perf_counter()
    model = edge.load(bundle.path, public_key=cfg.keys_dir / "precast_ed25519.pub")
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
    return 0


def _bundle(cfg: Any, model: str) -> Any:
    from edge import signing
    from precast.commands.bundle import make_bundle

    if not (cfg.keys_dir / signing.PRIVATE_KEY_FILE).exists():
        _, public, pub = signing.write_key_pair(cfg.keys_dir)
        print(f"generated signing keys in {cfg.keys_dir} (key id {signing.key_id(pub)})")
    b = make_bundle(cfg, model)
    state = "reused" if b.reused else "wrote"
    print(
        f"{state} {b.path} ({b.size / 1e6:.1f} MB, sha256 {b.sha256[:12]}…, "
        f"signed by key {b.key_id})"
    )
    return b


def _banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)

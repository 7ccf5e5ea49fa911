"""Run the real arm64 Lambda asset here, under qemu-user, and certify the artifact for arm64.

Build side only. ``python -m optimize.emulation setup`` makes (idempotent, cached under
``.precast/arm64/``, which git ignores):

- ``qemu/``: Debian trixie's ``qemu-user`` (qemu 10, static). Bookworm's qemu 7.2
  mis-executes SVE code: onnxruntime returned wrong vectors (cosine 0.016) there with every
  request answering 200. qemu 10 runs ``-cpu neoverse-n1`` (Graviton2) and ``neoverse-v1``
  (Graviton3, SVE 256) correctly; its ``max`` model must not stand in for Graviton.
- ``root/``: a Debian trixie arm64 root with Python 3.13 (a Lambda runtime): apt resolves
  and downloads the packages into a private index, ``dpkg -x`` unpacks them (nothing arm64
  runs to build it; no debootstrap, chroot or binfmt_misc needed).
  Programs run as ``qemu-aarch64 -L root root/usr/bin/python3``: no chroot, no binfmt_misc.

``python -m optimize.emulation certify MODEL`` builds the Lambda asset for arm64 / Python
3.13 (the same builder ``precast package`` uses), runs inside the emulator (1) ``edge`` over
held-out texts and (2) the asset's real handler on Function URL events, and compares with
this host: identical rows, max |difference|, min cosine to this host's vectors and to the
fp32 reference (sentence-transformers on torch). ``--out FILE`` writes the report (``make
certify-arm64`` writes ``benchmarks/results/arm64.json``); exit 1 if the arm64 host fails
the accuracy gate or the handler does not serve edge's vectors.
Emulated, 200 texts take a few minutes (native: about a second).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from edge.exceptions import PrecastError

ROOT_SUITE = "trixie"
MIRROR = "http://deb.debian.org/debian"
DEFAULT_CPU = "neoverse-n1"  # Graviton2, the Lambda arm64 baseline
CACHE = Path(".precast/arm64")
EMULATED_PYTHON = "3.13"
_APT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


class EmulationError(PrecastError):
    """The emulated host could not be set up or run; the message says what to install."""


@dataclass(frozen=True)
class Emulator:
    qemu: Path
    root: Path
    cpu: str = DEFAULT_CPU

    def command(self, *args: str) -> list[str]:
        python = self.root / "usr" / "bin" / "python3"
        return [str(self.qemu), "-cpu", self.cpu, "-L", str(self.root), str(python), *args]

    def run_python(
        self,
        args: list[str],
        *,
        env: dict[str, str],
        cwd: Path | None = None,
        timeout: float = 3600,
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            self.command(*args), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise EmulationError(f"emulated arm64 run failed:\n{done.stderr[-3000:]}")
        return done


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    if done.returncode != 0:
        raise EmulationError(f"{what} failed ({' '.join(cmd[:3])} ...):\n{done.stderr[-2000:]}")


def _apt(cache: Path, arch: str) -> list[str]:
    """apt-get options for a private trixie index of ``arch`` under ``cache``: the system's
    apt configuration, package state and installed packages are never touched."""
    apt = cache / f"apt-{arch}"
    (apt / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (apt / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    sources, status = apt / "sources.list", apt / "status"
    sources.write_text(f"deb [signed-by={_APT_KEYRING}] {MIRROR} {ROOT_SUITE} main\n")
    status.touch()  # nothing "installed": apt resolves every dependency for the download
    opts = [
        f"-oDir::Etc::sourcelist={sources}",
        "-oDir::Etc::sourceparts=-",
        "-oDir::Etc::Preferences=/dev/null",
        "-oDir::Etc::preferencesparts=-",
        f"-oDir::State::Lists={apt / 'lists'}",
        f"-oDir::State::status={status}",
        f"-oDir::Cache={apt / 'cache'}",
        f"-oAPT::Architecture={arch}",
        f"-oAPT::Architectures={arch}",
        "-oAPT::Sandbox::User=root",
    ]
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        raise EmulationError("needs apt-get and dpkg (a Debian or Ubuntu host) to fetch packages")
    _run(["apt-get", "-q", *opts, "update"], f"apt-get update ({ROOT_SUITE}, {arch})")
    return opts


def _unpack(debs: list[Path], dest: Path) -> None:
    """``dpkg -x`` each package into ``dest`` (merged /usr: lib, bin, sbin are links)."""
    for sub in ("usr/lib", "usr/bin", "usr/sbin"):
        (dest / sub).mkdir(parents=True, exist_ok=True)
    for link in ("lib", "bin", "sbin"):
        (dest / link).symlink_to(f"usr/{link}")
    for deb in debs:
        _run(["dpkg", "-x", str(deb), str(dest)], f"unpacking {deb.name}")


def fetch_qemu(cache: Path) -> Path:
    """qemu-aarch64 from Debian trixie's qemu-user package (static), unpacked under cache."""
    qemu = cache / "qemu" / "usr" / "bin" / "qemu-aarch64"
    if qemu.exists():
        return qemu
    opts = _apt(cache, "amd64")
    download = cache / "apt-amd64" / "download"
    download.mkdir(exist_ok=True)
    _run(["apt-get", "-q", *opts, "download", "qemu-user"], "apt-get download", cwd=download)
    debs = sorted(download.glob("qemu-user_*.deb"))
    staging = cache / "qemu.partial"
    shutil.rmtree(staging, ignore_errors=True)
    _unpack(debs, staging)
    os.replace(staging, cache / "qemu")
    for deb in debs:
        deb.unlink()
    return qemu


def make_root(cache: Path) -> Path:
    """A trixie arm64 root with Python 3.13 and the C++ runtime onnxruntime links: apt
    resolves and downloads the packages, ``dpkg -x`` unpacks them (about 80 MB); nothing
    arm64 runs to build it, and no debootstrap or root file system tools are needed."""
    root = cache / "root"
    if (root / "usr" / "bin" / "python3").exists():
        return root
    opts = _apt(cache, "arm64")
    packages = ["python3", "libstdc++6"]
    _run(
        ["apt-get", "-q", "-y", *opts, "install", "--download-only", "--no-install-recommends",
         *packages],
        "apt-get install --download-only (arm64)",
    )  # fmt: skip
    archives = cache / "apt-arm64" / "cache" / "archives"
    staging = cache / "root.partial"
    shutil.rmtree(staging, ignore_errors=True)
    _unpack(sorted(archives.glob("*.deb")), staging)
    os.replace(staging, root)
    return root


def setup(cache: Path = CACHE, cpu: str = DEFAULT_CPU) -> Emulator:
    cache = cache.resolve()
    cache.mkdir(parents=True, exist_ok=True)
    emulator = Emulator(fetch_qemu(cache), make_root(cache), cpu)
    probe = "import platform, sys; print(platform.machine(), sys.version_info[:2])"
    out = emulator.run_python(["-c", probe], env={"PATH": "/usr/bin:/bin"}, timeout=300)
    if not out.stdout.startswith("aarch64 (3, 13)"):
        raise EmulationError(
            f"the emulated root runs {out.stdout.strip()!r}, not arm64 Python 3.13"
        )
    return emulator


# Runs inside the emulator with the asset on sys.path: edge over the texts, then the real
# handler on each Function URL event; results as .npy / JSON files in the work dir.
_GUEST = r"""
import json, sys, time
import numpy as np
work = sys.argv[1]
texts = json.load(open(f"{work}/texts.json"))
t0 = time.perf_counter()
import edge
model = edge.load("artifact")
load_s = time.perf_counter() - t0
t0 = time.perf_counter()
vectors = model.predict(texts, enforce_limits=False)
predict_s = time.perf_counter() - t0
np.save(f"{work}/arm64.npy", vectors)
import functions.lambda_handler as lh
class Context:  # what the Lambda runtime passes (powertools reads these)
    function_name = "precast-arm64-certify"
    memory_limit_in_mb = 2048
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:precast-arm64"
    aws_request_id = "arm64-certify"
answers = []
for event in json.load(open(f"{work}/events.json")):
    response = lh.handler(event, Context())
    answers.append({"status": response["statusCode"], "body": response.get("body", "")})
json.dump({"load_s": load_s, "predict_s": predict_s, "plan": model.plan.describe(),
           "smoke": vars(model.smoke) if model.smoke else None, "handler": answers},
          open(f"{work}/guest.json", "w"))
"""


def certify(model_name: str, *, texts: int = 200, cpu: str = DEFAULT_CPU) -> dict[str, Any]:
    """Certify the latest artifact of ``model_name`` (from ./precast.toml) for arm64."""
    from edge.artifact_layout import latest_artifact
    from precast.project.config import load_config

    cfg = load_config()
    artifact = latest_artifact(cfg.artifacts_dir, model_name)
    return certify_directory(artifact, cfg.model(model_name), texts=texts, cpu=cpu)


def certify_directory(
    artifact: Path, model_cfg: Any, *, texts: int = 200, cpu: str = DEFAULT_CPU
) -> dict[str, Any]:
    """Run ``artifact`` as the arm64 Lambda asset under qemu and compare with this host."""
    from precast.project.lambda_asset import build_lambda_asset

    model_name = model_cfg.name
    print(f"arm64: setting up qemu ({cpu}) and a trixie root under {CACHE}/", flush=True)
    emulator = setup(CACHE, cpu)
    print("arm64: building the Lambda asset for arm64 / Python 3.13", flush=True)
    asset = build_lambda_asset(
        model_name, artifact, CACHE / "asset", arch="arm64", python=EMULATED_PYTHON
    )
    sample = _held_out_texts(texts)
    events = _function_url_events(model_name, sample[:3])
    with tempfile.TemporaryDirectory(prefix="precast-arm64-") as tmp:
        work = Path(tmp)
        (work / "texts.json").write_text(json.dumps(sample))
        (work / "events.json").write_text(json.dumps(events))
        env = {
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(asset.directory),
            "PRECAST_CACHE_URL": "none",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "precast",
            "HOME": tmp,
        }
        print(f"arm64: running {len(sample)} texts and the handler under qemu", flush=True)
        t0 = time.monotonic()
        emulator.run_python(["-c", _GUEST, str(work)], env=env, cwd=asset.directory)
        guest_wall = time.monotonic() - t0
        arm = np.load(work / "arm64.npy")
        guest = json.loads((work / "guest.json").read_text())
    return _compare(
        model_cfg,
        artifact,
        sample,
        arm=arm,
        guest=guest,
        guest_wall=guest_wall,
        cpu=cpu,
        asset=asset,
    )


def _held_out_texts(n: int) -> list[str]:
    from optimize import corpus

    return corpus.sample(n, offset=2500)  # outside calibration (128) and evaluation (512)


def _function_url_events(model: str, texts: list[str]) -> list[dict[str, Any]]:
    body = json.dumps({"inputs": texts})
    base = {
        "version": "2.0",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "lambda-url.local"},
        "isBase64Encoded": False,
    }

    def event(method: str, path: str, body: str | None) -> dict[str, Any]:
        context = {"http": {"method": method, "path": path, "sourceIp": "127.0.0.1"}}
        out = {**base, "rawPath": path, "requestContext": context}
        return out | ({"body": body} if body is not None else {})

    return [
        event("GET", "/healthz", None),
        event("POST", f"/v1/models/{model}/predict", body),
    ]


def _compare(
    model_cfg: Any,
    artifact: Path,
    texts: list[str],
    *,
    arm: np.ndarray,
    guest: dict[str, Any],
    guest_wall: float,
    cpu: str,
    asset: Any,
) -> dict[str, Any]:
    import edge
    from edge.host import describe_host
    from optimize.isa import cpu_info

    here = edge.load(artifact).predict(texts, enforce_limits=False)
    reference = _fp32_reference(model_cfg, texts)
    statuses = [a["status"] for a in guest["handler"]]
    served = np.asarray(json.loads(guest["handler"][1]["body"])["predictions"], dtype=np.float32)
    accuracy = model_cfg.accuracy
    vs_ref = _cosines(arm, reference)
    report = {
        "benchmark": "arm64",
        "command": "make certify-arm64",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "artifact": artifact.name,
        "emulated_cpu": cpu,
        "guest": {"python": EMULATED_PYTHON, "qemu_cpu": cpu, "asset_mb": asset.unzipped_mb},
        "build_host": describe_host(),
        "measured_on": cpu_info(),
        "texts": len(texts),
        "arm64_vs_this_host": {
            "identical_rows": int((arm == here).all(axis=1).sum()),
            "max_abs_diff": float(np.abs(arm - here).max()),
            **_stats(_cosines(arm, here)),
        },
        "arm64_vs_fp32": _stats(vs_ref),
        "this_host_vs_fp32": _stats(_cosines(here, reference)),
        "handler": {
            "statuses": statuses,
            "served_equals_edge": bool(np.array_equal(served, arm[: len(served)])),
        },
        "smoke": guest["smoke"],
        "plan": guest["plan"],
        "emulated_seconds": {"load": guest["load_s"], "predict": guest["predict_s"]},
        "guest_wall_s": guest_wall,
        "gate": {
            "min_mean_cosine": accuracy.min_mean_cosine,
            "min_cosine": accuracy.min_cosine,
        },
    }
    report["passed"] = bool(
        statuses == [200, 200]
        and report["handler"]["served_equals_edge"]
        and vs_ref.mean() >= accuracy.min_mean_cosine
        and vs_ref.min() >= accuracy.min_cosine
    )
    return report


def _fp32_reference(model_cfg: Any, texts: list[str]) -> np.ndarray:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(model_cfg.source_dir()), device="cpu")
    st.max_seq_length = model_cfg.max_tokens
    out = st.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    return np.asarray(out, dtype=np.float32)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.asarray((a * b).sum(axis=1))


def _stats(cos: np.ndarray) -> dict[str, float]:
    return {"mean_cosine": float(cos.mean()), "min_cosine": float(cos.min())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m optimize.emulation",
        description="Execute the arm64 Lambda asset here under qemu-user and certify arm64.",
    )
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("setup", help="fetch qemu 10 and make the arm64 root (idempotent)")
    s.add_argument("--cpu", default=DEFAULT_CPU, help=f"qemu CPU model (default {DEFAULT_CPU})")
    c = sub.add_parser("certify", help="run edge + the handler under arm64 and compare")
    c.add_argument("model", help="model name from precast.toml")
    c.add_argument("--texts", type=int, default=200, help="held-out texts (default 200)")
    c.add_argument("--cpu", default=DEFAULT_CPU, help=f"qemu CPU model (default {DEFAULT_CPU})")
    c.add_argument("--out", type=Path, default=None, help="write the report (JSON) here")
    args = ap.parse_args(argv)
    try:
        if args.command == "setup":
            emulator = setup(CACHE, args.cpu)
            print(f"ready: {' '.join(emulator.command('...'))}")
            return 0
        report = certify(args.model, texts=args.texts, cpu=args.cpu)
    except EmulationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    text = json.dumps(report, indent=2)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())

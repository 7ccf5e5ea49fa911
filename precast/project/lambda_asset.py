"""Build the Lambda zip asset for one model: runtime wheels + edge/ + functions/ + artifact.

Build-time only (never imported by a runtime). Layout of ``dist/lambda/<model>-<arch>/``:

    functions/  edge/          the code the handler runs (no modal_app.py, no local_host.py)
    artifact/                  manifest.json + the files it lists (verified on load)
    numpy/ onnxruntime/ ...    manylinux wheels for the target Python and architecture

and ``dist/lambda/<model>-<arch>.zip`` next to it. Wheels are installed with ``--no-deps``
from an explicit list: everything the handler imports, nothing it does not (onnxruntime's
sympy/protobuf/flatbuffers, tokenizers' huggingface-hub, and boto3/botocore, which the
Lambda runtime already has). Versions are pinned to this environment's, so the asset runs
what the tests ran. ``arch="local"`` builds for this interpreter, so a test can import
the asset in an isolated subprocess and invoke the handler.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from edge.certification import LAMBDA_ARCHITECTURE_KINDS, certified_kinds, kinds_for_architecture
from edge.exceptions import PrecastError
from edge.manifest import MANIFEST_NAME, Manifest, read_manifest
from edge.variant_targets import files_for_target
from precast.project.exceptions import UncertifiedArtifactError

LAMBDA_UNZIPPED_LIMIT = 262_144_000  # 250 MB: Lambda's limit for an unzipped zip asset
TARGET_BYTES = 150 * 1024 * 1024  # our own budget: room left for a second model or a layer
ARCHES = ("x86_64", "arm64", "local")
GLIBC_MAX_MINOR = 34  # Lambda python3.12/3.13 run on Amazon Linux 2023 (glibc 2.34)

# Distributions the handler imports at run time (checked by tests/functions/test_asset.py).
RUNTIME_DISTRIBUTIONS = (
    "onnxruntime",
    "numpy",
    "tokenizers",
    "starlette",
    "anyio",
    "idna",
    "typing_extensions",
    "mangum",
    "aws-lambda-powertools",
    "jmespath",
    "aws-xray-sdk",  # powertools Tracer (only imported when tracing is on)
    "wrapt",
)
CODE_PACKAGES = ("edge", "functions")
EXCLUDED_CODE = ("functions/modal_app.py", "functions/local_host.py")

# Parts of wheels nothing imports at run time.
_PRUNE_DIRS = (
    "bin",
    "onnxruntime/tools",
    "onnxruntime/transformers",
    "onnxruntime/quantization",
    "onnxruntime/datasets",
    "onnxruntime/backend",
    "numpy/f2py",
    "numpy/distutils",
    "numpy/_pyinstaller",
    "numpy/_core/include",
    "numpy/_core/lib/pkgconfig",
)
# The C-API library: the Python extension links ORT statically and never loads it (34 MB).
_PRUNE_GLOBS = ("onnxruntime/capi/libonnxruntime.so*",)
_PRUNE_DIR_NAMES = ("tests", "__pycache__")
_PRUNE_SUFFIXES = (".pyi", ".pyc", ".pyx", ".pxd", ".h", ".c", ".cpp")


class LambdaAssetError(PrecastError):
    """The Lambda asset could not be built, or it is over Lambda's size limit."""


@dataclass(frozen=True)
class AssetReport:
    directory: Path
    zip_path: Path
    unzipped_bytes: int
    zipped_bytes: int
    largest: list[tuple[str, int]]
    precompiled: bool = False

    @property
    def unzipped_mb(self) -> float:
        return self.unzipped_bytes / 1024 / 1024

    def summary(self) -> str:
        top = ", ".join(f"{name} {size / 1024 / 1024:.1f} MB" for name, size in self.largest)
        zipped = (
            f"zip {self.zipped_bytes / 1024 / 1024:.1f} MB at {self.zip_path}"
            if self.zipped_bytes
            else "no zip"
        )
        return (
            f"{self.directory}: {self.unzipped_mb:.1f} MB unzipped "
            f"(Lambda limit 250 MB, budget {TARGET_BYTES / 1024 / 1024:.0f} MB), "
            f"{zipped}; bytecode "
            f"{'precompiled' if self.precompiled else 'NOT precompiled (no matching python)'}. "
            f"Largest: {top}"
        )


def check_certified(
    model: str, manifest: Manifest, arch: str, *, allow_uncertified: bool
) -> str | None:
    """Refuse to deploy an artifact to a Lambda ``arch`` it is not certified for.

    Returns None when certified, a warning
    (to print) when ``allow_uncertified``; raises :class:`UncertifiedArtifactError`
    otherwise, naming the command that certifies it. ``arch="local"`` (this interpreter,
    for tests) is not a deploy target and is not checked."""
    if arch not in LAMBDA_ARCHITECTURE_KINDS or kinds_for_architecture(manifest, arch):
        return None
    version = (manifest.version or "?")[:16]
    kinds = ", ".join(sorted(certified_kinds(manifest))) or "none"
    table = f"[models.{model}.lambda]"
    what = (
        f"artifact {version} of model {model!r} is not certified for Lambda {arch} "
        f"(host kinds {'/'.join(LAMBDA_ARCHITECTURE_KINDS[arch])}; certified: {kinds}): "
        "its accuracy was never measured on the CPU it would run on"
    )
    if allow_uncertified:
        return f"warning: {what}; deploying anyway ({table} allow_uncertified = true)"
    if arch == "arm64":
        x86 = (
            ": this artifact is certified for it"
            if kinds_for_architecture(manifest, "x86_64")
            else ""
        )
        how = (
            f"Certify it with `precast optimize {model} --certify arm64` (runs the real arm64 "
            f'asset under qemu, a few minutes), or deploy x86_64 (architecture = "x86_64" in '
            f"{table}{x86})"
        )
    else:
        how = (
            f"Certify it by running `precast optimize {model}` on an x86_64 host, or deploy "
            f'arm64 (architecture = "arm64" in {table}, after `precast optimize {model} '
            "--certify arm64` if it is not certified for arm64 either)"
        )
    raise UncertifiedArtifactError(
        f"{what}. {how}, or accept it uncertified with allow_uncertified = true in {table}.",
        model=model,
        architecture=arch,
    )


def wheel_platforms(arch: str) -> list[str]:
    """Every manylinux tag a Lambda (glibc 2.34) can run; pip does not expand these itself."""
    machine = {"x86_64": "x86_64", "arm64": "aarch64"}[arch]
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(GLIBC_MAX_MINOR, 16, -1)]
    return [*tags, f"manylinux2014_{machine}"]


def pinned_requirements() -> list[str]:
    """Each runtime distribution pinned to the version installed here."""
    pins = []
    for dist in RUNTIME_DISTRIBUTIONS:
        try:
            pins.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pins.append(dist)
    return pins


def pip_command(target: Path, arch: str, python: str) -> list[str]:
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    cmd += ["--target", str(target), "--no-deps", "--only-binary=:all:", "--no-compile"]
    if arch != "local":
        for platform in wheel_platforms(arch):
            cmd += ["--platform", platform]
        cmd += ["--implementation", "cp", "--python-version", python, "--abi", _abi(python)]
    return cmd + pinned_requirements()


def _abi(python: str) -> str:
    return "cp" + python.replace(".", "")


def find_interpreter(python: str) -> str | None:
    """An interpreter of the target Python version, to precompile bytecode with (or None).

    Looks on PATH, then in pyenv's versions (its shims fail for versions not selected)."""
    if python == "local":
        return sys.executable
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [shutil.which(f"python{python}")]
    candidates += [str(p) for p in sorted(pyenv.glob(f"{python}.*/bin/python{python}"))]
    for exe in filter(None, candidates):
        probe = subprocess.run(
            [exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == python:
            return exe
    return None


def precompile(root: Path, interpreter: str) -> bool:
    """Write ``unchecked-hash`` .pyc files: Lambda's /var/task is read-only, so without them
    every cold start compiles every module in memory (~0.5 s here). Unchecked: the zip's
    fixed timestamps would invalidate timestamp-based pycs."""
    done = subprocess.run(
        [
            interpreter,
            "-m",
            "compileall",
            "-q",
            "-j0",
            "--invalidation-mode",
            "unchecked-hash",
            str(root),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode == 0


def _copy_code(repo: Path, dest: Path) -> None:
    for package in CODE_PACKAGES:
        src = repo / package
        if not (src / "__init__.py").is_file():
            raise LambdaAssetError(f"{src} is not a package; run from the precast repository")
        shutil.copytree(
            src,
            dest / package,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "tests"),
        )
    for rel in EXCLUDED_CODE:
        (dest / rel).unlink(missing_ok=True)


def _copy_artifact(artifact_dir: Path, dest: Path) -> None:
    manifest = read_manifest(artifact_dir)
    (dest / "artifact").mkdir()
    # only what Lambda runs (ONNX Runtime CPU): a CUDA or OpenVINO variant's file stays out
    for name in [MANIFEST_NAME, *files_for_target(manifest, "lambda")]:
        shutil.copy2(artifact_dir / name, dest / "artifact" / name)


def prune(root: Path) -> int:
    """Delete what no runtime import needs; rewrite RECORDs so they list only what is left."""
    removed = 0
    for rel in _PRUNE_DIRS:
        if (root / rel).is_dir():
            removed += _tree_size(root / rel)
            shutil.rmtree(root / rel)
    for pattern in _PRUNE_GLOBS:
        for path in root.glob(pattern):
            removed += path.stat().st_size
            path.unlink()
    for path in sorted(root.rglob("*"), reverse=True):
        if not path.exists() or "artifact" == path.relative_to(root).parts[0]:
            continue
        if path.is_dir() and path.name in _PRUNE_DIR_NAMES:
            removed += _tree_size(path)
            shutil.rmtree(path)
        elif path.is_file() and path.suffix in _PRUNE_SUFFIXES:
            removed += path.stat().st_size
            path.unlink()
    for record in root.glob("*.dist-info/RECORD"):
        kept = [
            line
            for line in record.read_text(encoding="utf-8").splitlines()
            if line and (root / line.split(",", 1)[0]).exists()
        ]
        record.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return removed


def _tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def write_zip(directory: Path, zip_path: Path) -> int:
    """Deterministic zip (sorted names, fixed timestamps, 0644/0755 modes)."""
    tmp = zip_path.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(
                str(path.relative_to(directory)), date_time=(1980, 1, 1, 0, 0, 0)
            )
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(path, "rb") as fh:
                zf.writestr(info, fh.read())
    os.replace(tmp, zip_path)
    return zip_path.stat().st_size


def build_lambda_asset(
    model: str,
    artifact_dir: Path,
    out_dir: Path,
    *,
    arch: str = "arm64",
    python: str = "3.12",
    repo: Path | None = None,
    make_zip: bool = True,
) -> AssetReport:
    """Build ``out_dir/<model>-<arch>/`` (+ ``.zip``); raise if over Lambda's 250 MB."""
    if arch not in ARCHES:
        raise LambdaAssetError(f"unknown architecture {arch!r}. Choices are: {'|'.join(ARCHES)}")
    repo = repo or Path(__file__).resolve().parents[2]
    directory = out_dir / f"{model}-{arch}"
    staging = out_dir / f".{model}-{arch}.building"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    cmd = pip_command(staging, arch, python)
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise LambdaAssetError(
            f"pip could not fetch wheels for {arch}/Python {python}:\n{done.stderr.strip()}"
        )
    prune(staging)
    _copy_code(repo, staging)
    _copy_artifact(artifact_dir, staging)
    interpreter = find_interpreter(python if arch != "local" else "local")
    compiled = precompile(staging, interpreter) if interpreter else False
    shutil.rmtree(directory, ignore_errors=True)
    os.replace(staging, directory)
    size = _tree_size(directory)
    largest = sorted(
        ((p.name, _tree_size(p) if p.is_dir() else p.stat().st_size) for p in directory.iterdir()),
        key=lambda kv: -kv[1],
    )[:5]
    zip_path = out_dir / f"{model}-{arch}.zip"
    zipped = write_zip(directory, zip_path) if make_zip else 0
    report = AssetReport(
        directory=directory,
        zip_path=zip_path,
        unzipped_bytes=size,
        zipped_bytes=zipped,
        largest=largest,
        precompiled=compiled,
    )
    if size > LAMBDA_UNZIPPED_LIMIT:
        raise LambdaAssetError(
            f"{report.summary()}\nThe asset is over Lambda's 250 MB unzipped limit; use a "
            "smaller artifact or ship the model from S3."
        )
    return report

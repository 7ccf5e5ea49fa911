"""manifest.json: the contract between an artifact and everything that runs it.

An artifact directory holds ``manifest.json`` plus the files it lists (``model.onnx``,
``tokenizer.json``, ...). The manifest records each file's sha256 and size; :func:`verify_files`
checks them before a session is created, so a corrupted or tampered artifact never runs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.exceptions import ArtifactError, ArtifactIntegrityError

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1
SUPPORTED_FORMAT_VERSIONS = (1,)
TASKS = ("feature-extraction", "text-classification")
POOLINGS = ("mean", "cls")
SUPPORTED_TASKS = TASKS  # what this runtime can run: today, everything the config allows
SUPPORTED_POOLINGS = POOLINGS
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """Typed view of manifest.json. ``raw`` keeps every field, including ones added later."""

    name: str
    version: str
    task: str
    pooling: str
    normalize: bool
    max_tokens: int
    truncate: bool
    max_batch: int
    max_chars: int
    dim: int
    inputs: tuple[str, ...]
    output: str
    files: dict[str, FileEntry]
    format_version: int = FORMAT_VERSION
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def quantization(self) -> dict[str, Any]:
        q = self.raw.get("quantization", {})
        return q if isinstance(q, dict) else {}

    @property
    def metrics(self) -> dict[str, Any]:
        m = self.raw.get("metrics", {})
        return m if isinstance(m, dict) else {}

    @property
    def smoke(self) -> dict[str, Any]:
        """Known inputs and their expected outputs, used as a post-update health check."""
        s = self.raw.get("smoke", {})
        return s if isinstance(s, dict) else {}

    def summary(self) -> dict[str, Any]:
        """What the HTTP API shows for a model: stable, small, no file list."""
        return {
            "name": self.name,
            "version": self.version,
            "task": self.task,
            "dim": self.dim,
            "pooling": self.pooling,
            "normalize": self.normalize,
            "max_tokens": self.max_tokens,
            "truncate": self.truncate,
            "limits": {"max_batch": self.max_batch, "max_chars": self.max_chars},
            "quantization": self.quantization.get("recipe"),
            "metrics": self.metrics,
            "created_at": self.raw.get("created_at"),
        }


def _require(raw: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in raw:
        raise ArtifactError(f"{where}: manifest has no {key!r}")
    value = raw[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ArtifactError(f"{where}: manifest {key!r} has the wrong type ({value!r})")
    return value


def parse_manifest(raw: Any, where: str = "manifest.json") -> Manifest:
    """Validate a decoded manifest.json and return it typed. Raises :class:`ArtifactError`."""
    if not isinstance(raw, dict):
        raise ArtifactError(f"{where}: manifest must be a JSON object")
    fmt = _require(raw, "format_version", int, where)
    if fmt not in SUPPORTED_FORMAT_VERSIONS:
        raise ArtifactError(
            f"{where}: format_version {fmt} is not supported by this runtime "
            f"(supported: {SUPPORTED_FORMAT_VERSIONS}); upgrade precast on this device"
        )
    task = _require(raw, "task", str, where)
    if task not in SUPPORTED_TASKS:
        raise ArtifactError(f"{where}: task {task!r} not supported ({'|'.join(SUPPORTED_TASKS)})")
    pooling = _require(raw, "pooling", str, where)
    if pooling not in SUPPORTED_POOLINGS:
        raise ArtifactError(f"{where}: pooling {pooling!r} not in {'|'.join(SUPPORTED_POOLINGS)}")
    files_raw = _require(raw, "files", dict, where)
    files: dict[str, FileEntry] = {}
    for name, entry in files_raw.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            raise ArtifactError(f"{where}: files[{name!r}] needs sha256 and size")
        if "/" in name or "\\" in name or name.startswith("."):
            raise ArtifactError(f"{where}: files[{name!r}] must be a plain file name")
        files[name] = FileEntry(sha256=entry["sha256"], size=int(entry.get("size", -1)))
    for needed in ("model.onnx", "tokenizer.json"):
        if needed not in files:
            raise ArtifactError(f"{where}: manifest lists no {needed!r}")
    limits = raw.get("limits", {})
    if not isinstance(limits, dict):
        raise ArtifactError(f"{where}: manifest 'limits' must be an object")
    inputs = _require(raw, "inputs", list, where)
    outputs = _require(raw, "outputs", list, where)
    if not outputs or not isinstance(outputs[0], dict):
        raise ArtifactError(f"{where}: manifest 'outputs' must list at least one output")
    return Manifest(
        name=_require(raw, "name", str, where),
        version=_require(raw, "version", str, where),
        task=task,
        pooling=pooling,
        normalize=bool(raw.get("normalize", True)),
        max_tokens=_require(raw, "max_tokens", int, where),
        truncate=bool(limits.get("truncate", True)),
        max_batch=int(limits.get("max_batch", 64)),
        max_chars=int(limits.get("max_chars", 8192)),
        dim=int(raw.get("dim", 0)),
        inputs=tuple(str(i["name"]) if isinstance(i, dict) else str(i) for i in inputs),
        output=str(outputs[0].get("name", "last_hidden_state")),
        files=files,
        format_version=fmt,
        raw=raw,
    )


def read_manifest(directory: Path) -> Manifest:
    path = directory / MANIFEST_NAME
    if not path.exists():
        raise ArtifactError(
            f"{directory} is not a precast artifact (no {MANIFEST_NAME}). "
            "Build one with `precast optimize MODEL`."
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: unreadable manifest: {exc}") from None
    return parse_manifest(raw, str(path))


def verify_files(directory: Path, manifest: Manifest) -> None:
    """Check size and sha256 of every listed file. Raises :class:`ArtifactIntegrityError`."""
    for name, entry in manifest.files.items():
        path = directory / name
        if not path.is_file():
            raise ArtifactIntegrityError(f"{path}: listed in the manifest but missing")
        size = path.stat().st_size
        if entry.size >= 0 and size != entry.size:
            raise ArtifactIntegrityError(
                f"{path}: size {size} bytes, manifest says {entry.size}; the artifact is "
                "truncated or altered. Rebuild or re-download it."
            )
        actual = sha256_file(path)
        if actual != entry.sha256:
            raise ArtifactIntegrityError(
                f"{path}: sha256 {actual[:12]}… does not match the manifest's "
                f"{entry.sha256[:12]}…; the file was altered. Rebuild or re-download it."
            )


def file_entries(directory: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    """sha256 + size for each named file, as manifest.json records them."""
    return {
        n: {"sha256": sha256_file(directory / n), "size": (directory / n).stat().st_size}
        for n in sorted(names)
    }


# What the version cannot hash: itself, and the moment of writing (a rebuild of identical
# content is the same model).
UNVERSIONED_FIELDS = ("version", "created_at")


def canonical_json(doc: dict[str, Any]) -> bytes:
    """The manifest's canonical form: sorted keys, no whitespace, UTF-8."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def manifest_version(doc: dict[str, Any]) -> str:
    """The artifact version: 16 hex of sha256 over the whole canonical manifest except
    :data:`UNVERSIONED_FIELDS`. The manifest lists every file's sha256, so any change of a
    file or of any field (limits, smoke set, metrics, ...) is a new version."""
    content = {k: v for k, v in doc.items() if k not in UNVERSIONED_FIELDS}
    return hashlib.sha256(canonical_json(content)).hexdigest()[:16]


def version_matches(manifest: Manifest) -> bool:
    """Whether ``manifest.version`` is the hash of its own content (built by precast)."""
    return manifest.version == manifest_version(manifest.raw)

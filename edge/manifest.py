"""manifest.json: the contract between an artifact and everything that runs it.

An artifact directory holds ``manifest.json`` plus the files it lists (``model.onnx``,
``tokenizer.json``, ...). The manifest records each file's sha256 and size; :func:`verify_files`
checks them before a session is created, so a corrupted or tampered artifact never runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.exceptions import ArtifactError, ArtifactIntegrityError
from edge.file_hash import sha256_file
from edge.manifest_model import (
    DEFAULT_MODEL_FILE,
    FORMAT_VERSION,
    POOLINGS,
    PROBLEM_TYPES,
    SUPPORTED_FORMAT_VERSIONS,
    TASKS,
    UNVERSIONED_FIELDS,
    ArtifactManifest,
    FileEntry,
    LimitsSpec,
    TensorSpec,
    VariantSpec,
    canonical_json,
    manifest_version,
)

__all__ = [
    "DEFAULT_MODEL_FILE",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "POOLINGS",
    "PROBLEM_TYPES",
    "SUPPORTED_FORMAT_VERSIONS",
    "TASKS",
    "UNVERSIONED_FIELDS",
    "ArtifactManifest",
    "FileEntry",
    "LimitsSpec",
    "Manifest",
    "TensorSpec",
    "VariantSpec",
    "canonical_json",
    "default_variant_name",
    "file_entries",
    "manifest_version",
    "parse_manifest",
    "read_manifest",
    "verify_files",
    "verify_variant_file",
    "version_matches",
]

MANIFEST_NAME = "manifest.json"
SUPPORTED_TASKS = TASKS  # what this runtime can run: today, everything the config allows
SUPPORTED_POOLINGS = POOLINGS


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
    document: ArtifactManifest | None = field(default=None, compare=False, repr=False)

    @property
    def quantization(self) -> dict[str, Any]:
        q = self.raw.get("quantization", {})
        return q if isinstance(q, dict) else {}

    @property
    def metrics(self) -> dict[str, Any]:
        m = self.raw.get("metrics", {})
        return m if isinstance(m, dict) else {}

    @property
    def certified(self) -> dict[str, Any]:
        """Host kind -> what was measured there (see :mod:`edge.certification`)."""
        c = self.raw.get("certified", {})
        return c if isinstance(c, dict) else {}

    @property
    def prompts(self) -> dict[str, str]:
        """Named prompts (``query`` -> ``"query: "``), prepended to a text before tokenizing."""
        return dict(self.document.prompts) if self.document else {}

    @property
    def default_prompt_name(self) -> str:
        return self.document.default_prompt_name if self.document else ""

    @property
    def truncate_dims(self) -> tuple[int, ...]:
        """Smaller embedding sizes the model allows (truncate + renormalize); () if none."""
        return self.document.truncate_dims if self.document else ()

    @property
    def labels(self) -> tuple[str, ...]:
        """Class names by index (text-classification), from the model's ``id2label``."""
        return self.document.labels if self.document else ()

    @property
    def multi_label(self) -> bool:
        """Sigmoid per label (multi-label) instead of softmax over labels."""
        doc = self.document
        return doc is not None and doc.problem_type == "multi_label_classification"

    @property
    def variants(self) -> tuple[VariantSpec, ...]:
        """The listed variants; a single-file manifest has one, ONNX Runtime CPU on
        ``model.onnx`` (its precision from the quantization recipe)."""
        if self.document is not None and self.document.variants:
            return self.document.variants
        entry = self.files[DEFAULT_MODEL_FILE]
        recipe = str(self.quantization.get("recipe", ""))
        precision = "fp32" if recipe.startswith("fp32") else "int8"
        return (
            VariantSpec(
                default_variant_name(precision),
                DEFAULT_MODEL_FILE,
                entry.sha256,
                entry.size,
                precision=precision,
                recipe=recipe,
            ),
        )

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
            **({"prompts": self.prompts} if self.prompts else {}),
            **({"labels": list(self.labels)} if self.labels else {}),
            "limits": {"max_batch": self.max_batch, "max_chars": self.max_chars},
            "quantization": self.quantization.get("recipe"),
            "metrics": self.metrics,
            "certified_hosts": sorted(self.certified),
            "variants": [v.name for v in self.variants],
            "created_at": self.raw.get("created_at"),
        }


def default_variant_name(precision: str) -> str:
    return f"cpu-{precision}"


def parse_manifest(raw: Any, where: str = "manifest.json") -> Manifest:
    """Validate a decoded manifest.json and return it typed. Raises :class:`ArtifactError`."""
    doc = ArtifactManifest.from_json(raw, where)
    return Manifest(
        name=doc.name,
        version=doc.version,
        task=doc.task,
        pooling=doc.pooling,
        normalize=doc.normalize,
        max_tokens=doc.max_tokens,
        truncate=doc.limits.truncate,
        max_batch=doc.limits.max_batch,
        max_chars=doc.limits.max_chars,
        dim=doc.dim,
        inputs=tuple(t.name for t in doc.inputs),
        output=doc.outputs[0].name,
        files=doc.files,
        format_version=doc.format_version,
        raw=raw,
        document=doc,
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


def verify_files(directory: Path, manifest: Manifest | _FileList) -> None:
    """Check size and sha256 of every listed file. Raises :class:`ArtifactIntegrityError`.

    A file is hashed once per install: :mod:`edge.verify_stamp` remembers the ones that
    matched and hashes again only a file whose stat changed since."""
    from edge.verify_stamp import Stamp

    stamp = Stamp(directory)
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
        actual = stamp.sha256(name, entry.sha256)
        if actual != entry.sha256:
            raise ArtifactIntegrityError(
                f"{path}: sha256 {actual[:12]}… does not match the manifest's "
                f"{entry.sha256[:12]}…; the file was altered. Rebuild or re-download it."
            )
    stamp.save()


def verify_variant_file(directory: Path, variant: VariantSpec) -> None:
    """Size and sha256 of one variant's file (the default one is in ``files``, checked by
    :func:`verify_files`); checked before its session is created."""
    verify_files(directory, _FileList({variant.file: FileEntry(variant.sha256, variant.size)}))


@dataclass(frozen=True)
class _FileList:
    files: dict[str, FileEntry]


def file_entries(directory: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    """sha256 + size for each named file, as manifest.json records them."""
    return {
        n: {"sha256": sha256_file(directory / n), "size": (directory / n).stat().st_size}
        for n in sorted(names)
    }


def version_matches(manifest: Manifest) -> bool:
    """Whether ``manifest.version`` is the hash of its own content (built by precast)."""
    return manifest.version == manifest_version(manifest.raw)

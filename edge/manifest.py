"""manifest.json: the contract between an artifact and everything that runs it.

An artifact directory holds ``manifest.json`` plus the files it lists (``model.onnx``,
``tokenizer.json``, ...). The manifest records each file's sha256 and size; :func:`verify_files`
checks them before a session is created, so a corrupted or tampered artifact never runs.
The document itself is one typed dataclass, :class:`edge.manifest_model.Manifest`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.exceptions import ArtifactError, ArtifactIntegrityError
from edge.file_hash import sha256_file
from edge.manifest_model import (
    DEFAULT_MODEL_FILE,
    FORMAT_VERSION,
    POOLINGS,
    PROBLEM_TYPES,
    SMOKE_MIN_COSINE,
    SUPPORTED_FORMAT_VERSIONS,
    TASKS,
    UNVERSIONED_FIELDS,
    FileEntry,
    LimitsSpec,
    Manifest,
    Measurement,
    Metrics,
    Quantization,
    Section,
    SmokeSet,
    Source,
    TensorSpec,
    VariantSpec,
    canonical_json,
    default_variant_name,
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
    "SMOKE_MIN_COSINE",
    "UNVERSIONED_FIELDS",
    "FileEntry",
    "LimitsSpec",
    "Manifest",
    "Measurement",
    "Metrics",
    "Quantization",
    "Section",
    "SmokeSet",
    "Source",
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


def parse_manifest(raw: Any, where: str = "manifest.json") -> Manifest:
    """Validate a decoded manifest.json and return it typed. Raises :class:`ArtifactError`."""
    return Manifest.from_json(raw, where)


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
    return manifest.version == manifest_version(manifest.content())

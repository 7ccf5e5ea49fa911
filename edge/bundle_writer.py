"""Write signed bundles (build host side of edge/bundle.py).

``build_bundle`` turns a verified artifact directory into ``<model>-<version>.pcb``, its
``bundle.sig`` made with the channel's targets key; edge/channel_repository.py then adds it
to a channel as a TUF target.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.bundle_format import (
    BUNDLE_JSON,
    BUNDLE_SIG,
    BUNDLE_SUFFIX,
    bundle_document,
    signature_document,
)
from edge.durable_fs import atomic_file
from edge.file_hash import sha256_file
from edge.manifest import (
    MANIFEST_NAME,
    FileEntry,
    read_manifest,
    verify_files,
    verify_variant_file,
)
from edge.variant_targets import carried_variants, files_for_target

if TYPE_CHECKING:
    from securesystemslib.signer import Key, Signer

DEFAULT_COMPRESSLEVEL = 6


def bundle_file_name(name: str, version: str) -> str:
    return f"{name}-{version}{BUNDLE_SUFFIX}"


def build_bundle(
    artifact_dir: Path,
    signer: Signer | Sequence[Signer],
    out_dir: Path,
    *,
    created_at: str | None = None,
    compresslevel: int = DEFAULT_COMPRESSLEVEL,
    target: str = "edge",
) -> Path:
    """Sign ``artifact_dir`` (verified first) into ``out_dir/<model>-<version>.pcb`` with
    ``signer`` (the channel's targets key; every one of them when the targets threshold is
    above 1, a list: bundle.sig then carries one signature per key). The bundle carries
    the variants ``target`` can run (:mod:`edge.variant_targets`; ``edge``: ONNX Runtime
    CPU only)."""
    manifest = read_manifest(artifact_dir)
    verify_files(artifact_dir, manifest)
    carried = carried_variants(manifest, target)
    for variant in carried:
        if not variant.is_default:
            verify_variant_file(artifact_dir, variant)
    names = sorted(
        [MANIFEST_NAME, *files_for_target(manifest, target)],
        key=lambda n: (artifact_dir / n).stat().st_size,
    )
    members = {
        n: FileEntry(sha256=sha256_file(artifact_dir / n), size=(artifact_dir / n).stat().st_size)
        for n in names
    }
    stamp = created_at or datetime.now(UTC).isoformat(timespec="seconds")
    bundle_json = bundle_document(manifest.name, manifest.version, stamp, members)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / bundle_file_name(manifest.name, manifest.version)
    write_archive(
        path,
        bundle_json,
        signature_document(signer, bundle_json),
        [(n, artifact_dir / n) for n in names],
        compresslevel=compresslevel,
    )
    return path


def resign_bundle(
    path: Path, trusted: Sequence[Key], signer: Signer | Sequence[Signer], out_dir: Path
) -> Path:
    """``path`` with a new ``bundle.sig`` by ``signer`` (the new targets key, or every one of
    them when the targets threshold is above 1), written to
    ``out_dir/<model>-<version>.pcb``: same bundle.json (name, version, created_at, member
    digests), same members, same compression. ``path`` is fully verified with ``trusted``
    (the keys that signed it) first, so a key rotation never signs what it did not ship."""
    from edge.bundle import extract_bundle, read_bundle_info

    info = read_bundle_info(path, trusted)
    with open(path, "rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".resign-") as tmp:
        unpacked = extract_bundle(path, trusted, Path(tmp) / "bundle")
        names = sorted(info.members, key=lambda n: (info.members[n].size, n))
        dest = out_dir / bundle_file_name(info.name, info.version)
        write_archive(
            dest,
            info.raw_json,
            signature_document(signer, info.raw_json),
            [(n, unpacked / n) for n in names],
            compresslevel=DEFAULT_COMPRESSLEVEL if gzipped else 0,
        )
    return dest


def write_archive(
    path: Path,
    bundle_json: bytes,
    bundle_sig: bytes,
    files: Sequence[tuple[str, Path]],
    *,
    compresslevel: int = DEFAULT_COMPRESSLEVEL,
) -> None:
    """The archive layout: bundle.json, bundle.sig, then ``files`` in order; atomic write.

    Headers carry no owner, a fixed mode and mtime 0, so the bytes depend only on content.
    ``compresslevel=0`` writes a plain tar.
    """
    with atomic_file(path) as raw:
        gz = None
        if compresslevel > 0:
            gz = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=compresslevel, mtime=0)
        stream: Any = gz if gz is not None else raw
        with tarfile.open(fileobj=stream, mode="w|", format=tarfile.USTAR_FORMAT) as tar:
            tar.addfile(_header(BUNDLE_JSON, len(bundle_json)), io.BytesIO(bundle_json))
            tar.addfile(_header(BUNDLE_SIG, len(bundle_sig)), io.BytesIO(bundle_sig))
            for name, source in files:
                with open(source, "rb") as fh:
                    tar.addfile(_header(name, source.stat().st_size), fh)
        if gz is not None:
            gz.close()


def _header(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info

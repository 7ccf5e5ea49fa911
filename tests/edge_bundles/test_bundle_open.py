"""Opening bundles: the real sample bundle loads, and every kind of bad bundle is refused
with the right ``check`` before anything reaches the destination."""

from __future__ import annotations

import io
import json
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

import edge
from edge.bundle import ENV_PUBLIC_KEY, open_bundle
from edge.bundle_format import (
    BUNDLE_JSON,
    BUNDLE_SIG,
    canonical_json,
    signature_document,
)
from edge.exceptions import ArtifactError, BundleVerificationError
from edge.file_hash import sha256_file
from edge.manifest import MANIFEST_NAME

from .conftest import KeyPair


def _members(bundle: Path) -> dict[str, bytes]:
    with tarfile.open(bundle) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]


def _bundle_json(files: dict[str, bytes], **overrides: object) -> bytes:
    manifest = json.loads(files[MANIFEST_NAME])
    doc = {
        "format_version": 1,
        "name": manifest["name"],
        "version": manifest["version"],
        "created_at": "2026-01-01T00:00:00+00:00",
        "members": {
            n: {"sha256": __import__("hashlib").sha256(b).hexdigest(), "size": len(b)}
            for n, b in files.items()
        },
        **overrides,
    }
    return canonical_json(doc)


def _write_tar(path: Path, entries: list[tuple[str, bytes, bytes]]) -> Path:
    """entries: (name, data, type) with tarfile type flags; data is the link target for links."""
    with tarfile.open(path, "w") as tar:
        for name, data, kind in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = data.decode()
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def _signed(
    files: dict[str, bytes], seed: bytes, **overrides: object
) -> list[tuple[str, bytes, bytes]]:
    meta = _bundle_json(files, **overrides)
    head = [
        (BUNDLE_JSON, meta, tarfile.REGTYPE),
        (BUNDLE_SIG, signature_document(seed, meta), tarfile.REGTYPE),
    ]
    return head + [(n, b, tarfile.REGTYPE) for n, b in files.items()]


@pytest.fixture(scope="module")
def artifact_files(sample_artifact: Path) -> dict[str, bytes]:
    return {
        n: (sample_artifact / n).read_bytes()
        for n in (MANIFEST_NAME, "tokenizer.json", "model.onnx")
    }


def test_good_bundle_loads_and_matches_the_artifact(
    bundle_copy: Path, keypair: KeyPair, sample_artifact: Path, sample_model: edge.EdgeModel
) -> None:
    """GIVEN the sample artifact signed into a gzip bundle (<= 25 MB)
    WHEN it is loaded with the publisher's public key file
    THEN it unpacks next to itself, holds exactly the artifact's bytes, and predicts the
    same vectors as the artifact directory on real text."""
    assert bundle_copy.stat().st_size <= 25 * 1024 * 1024
    model = edge.load(bundle_copy, public_key=keypair.public_path)
    assert model.directory == bundle_copy.parent / bundle_copy.name.removesuffix(".pcb")
    for name in ("model.onnx", "tokenizer.json", MANIFEST_NAME):
        assert sha256_file(model.directory / name) == sha256_file(sample_artifact / name)
    texts = list(model.manifest.smoke.texts or ())  # real stdlib docstrings picked by optimize
    np.testing.assert_allclose(model.predict(texts), sample_model.predict(texts), atol=1e-6)


def test_second_open_reuses_a_matching_extraction_and_repairs_a_tampered_one(
    bundle_copy: Path, keypair: KeyPair
) -> None:
    """GIVEN a bundle opened once
    WHEN it is opened again, then a file of the extraction is altered and it is opened again
    THEN the first reopen keeps the same files (same inode), the second replaces the altered
    file with the signed bytes."""
    dest = open_bundle(bundle_copy, public_key=keypair.public)
    inode = (dest / "model.onnx").stat().st_ino
    assert open_bundle(bundle_copy, public_key=keypair.public) == dest
    assert (dest / "model.onnx").stat().st_ino == inode
    good = sha256_file(dest / "tokenizer.json")
    with open(dest / "tokenizer.json", "r+b") as fh:
        fh.write(b"X")
    assert open_bundle(bundle_copy, public_key=keypair.public) == dest
    assert sha256_file(dest / "tokenizer.json") == good
    assert not [p for p in dest.parent.iterdir() if p.name.startswith(".")]


def test_no_key_is_refused_with_how_to_pass_one(
    bundle_copy: Path, keypair: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a good bundle and no key anywhere
    WHEN it is opened without public_key, then with $PRECAST_PUBLIC_KEY set
    THEN the first is refused (check=signature) naming public_key= and the env var; the
    second loads."""
    monkeypatch.delenv(ENV_PUBLIC_KEY, raising=False)
    with pytest.raises(BundleVerificationError, match="public_key=") as info:
        edge.load(bundle_copy)
    assert info.value.check == "signature" and ENV_PUBLIC_KEY in str(info.value)
    assert not (bundle_copy.parent / bundle_copy.stem).exists()
    monkeypatch.setenv(ENV_PUBLIC_KEY, str(keypair.public_path))
    assert open_bundle(bundle_copy).is_dir()


def test_wrong_key_is_refused_and_names_both_keys(
    bundle_copy: Path, keypair: KeyPair, other_keypair: KeyPair
) -> None:
    """GIVEN a bundle signed with one key
    WHEN it is opened with another key
    THEN check=signature, the message names the signer's and the given key ids, and
    nothing is unpacked."""
    with pytest.raises(BundleVerificationError) as info:
        open_bundle(bundle_copy, public_key=other_keypair.public)
    assert info.value.check == "signature"
    signer, given = keypair.public[0].keyid[:16], other_keypair.public[0].keyid[:16]
    assert signer in str(info.value) and given in str(info.value)
    assert sorted(p.name for p in bundle_copy.parent.iterdir()) == [bundle_copy.name]


def test_tampered_member_in_plain_tar_fails_the_hash_check(
    sample_artifact: Path, keypair: KeyPair, tmp_path: Path
) -> None:
    """GIVEN a plain-tar bundle with one byte of model.onnx flipped inside the archive
    WHEN it is opened
    THEN check=hash names model.onnx, and the destination does not exist afterwards."""
    from edge.bundle_writer import build_bundle

    bundle = build_bundle(sample_artifact, keypair.seed, tmp_path, compresslevel=0)
    data = bytearray(bundle.read_bytes())
    data[len(data) // 2] ^= 0x01  # inside model.onnx, the last and largest member
    bundle.write_bytes(bytes(data))
    with pytest.raises(BundleVerificationError, match="model.onnx") as info:
        open_bundle(bundle, public_key=keypair.public, extract_to=tmp_path / "out")
    assert info.value.check == "hash"
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == [bundle.name]


def test_swapped_member_with_intact_signature_fails_the_hash_check(
    artifact_files: dict[str, bytes], keypair: KeyPair, tmp_path: Path
) -> None:
    """GIVEN a correctly signed bundle.json whose tokenizer.json member was replaced by
    different bytes of the same size
    WHEN it is opened
    THEN check=hash."""
    entries = _signed(artifact_files, keypair.seed)
    tok = bytearray(artifact_files["tokenizer.json"])
    tok[100] ^= 0x20
    entries = [(n, bytes(tok) if n == "tokenizer.json" else d, k) for n, d, k in entries]
    bundle = _write_tar(tmp_path / "b.pcb", entries)
    with pytest.raises(BundleVerificationError, match="tokenizer.json") as info:
        open_bundle(bundle, public_key=keypair.public)
    assert info.value.check == "hash"


def test_altered_bundle_json_fails_the_signature(
    artifact_files: dict[str, bytes], keypair: KeyPair, tmp_path: Path
) -> None:
    """GIVEN a bundle whose bundle.json was edited after signing (created_at changed)
    WHEN it is opened with the right key
    THEN check=signature says the bundle was altered."""
    entries = _signed(artifact_files, keypair.seed)
    meta = entries[0][1].replace(b"2026-01-01", b"2027-01-01")
    bundle = _write_tar(tmp_path / "b.pcb", [(BUNDLE_JSON, meta, tarfile.REGTYPE), *entries[1:]])
    with pytest.raises(BundleVerificationError, match="altered") as info:
        open_bundle(bundle, public_key=keypair.public)
    assert info.value.check == "signature"


def test_unsupported_format_version_is_refused(
    artifact_files: dict[str, bytes], keypair: KeyPair, tmp_path: Path
) -> None:
    """GIVEN a correctly signed bundle that declares format_version 2
    WHEN this runtime (format 1) opens it
    THEN check=format and the message says to upgrade."""
    bundle = _write_tar(tmp_path / "b.pcb", _signed(artifact_files, keypair.seed, format_version=2))
    with pytest.raises(BundleVerificationError, match="upgrade") as info:
        open_bundle(bundle, public_key=keypair.public)
    assert info.value.check == "format"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.update(pooling="weighted"), "pooling"),
        (lambda m: m.pop("task"), "task"),
        (lambda m: m.update(version="other"), "bundle.json says"),
        (lambda m: m["files"]["model.onnx"].update(sha256="0" * 64), "differs"),
    ],
)
def test_bad_manifest_is_refused_by_schema(
    artifact_files: dict[str, bytes],
    keypair: KeyPair,
    tmp_path: Path,
    edit,
    message: str,  # type: ignore[no-untyped-def]
) -> None:
    """GIVEN a correctly signed bundle whose manifest.json is invalid or disagrees with
    bundle.json (hashes of all members right)
    WHEN it is opened
    THEN check=schema with the manifest's own complaint, and nothing is unpacked."""
    manifest = json.loads(artifact_files[MANIFEST_NAME])
    version = manifest["version"]
    edit(manifest)
    files = {**artifact_files, MANIFEST_NAME: json.dumps(manifest).encode()}
    bundle = _write_tar(tmp_path / "b.pcb", _signed(files, keypair.seed, version=version))
    with pytest.raises(BundleVerificationError, match=message) as info:
        open_bundle(bundle, public_key=keypair.public, extract_to=tmp_path / "out")
    assert info.value.check == "schema"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("keep", [100, 600, 0.5, -1000])
def test_truncated_bundle_is_refused(bundle_copy: Path, keypair: KeyPair, keep: float) -> None:
    """GIVEN a bundle cut short (inside the header, the metadata, the model, near the end)
    WHEN it is opened
    THEN check=archive says truncated/corrupt and no extraction is left behind."""
    data = bundle_copy.read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else keep % len(data)
    bundle_copy.write_bytes(data[:cut])
    with pytest.raises(BundleVerificationError) as info:
        open_bundle(bundle_copy, public_key=keypair.public)
    assert info.value.check == "archive"
    assert "truncated" in str(info.value)
    assert sorted(p.name for p in bundle_copy.parent.iterdir()) == [bundle_copy.name]


@pytest.mark.parametrize(
    ("name", "data", "kind", "message"),
    [
        ("../evil.txt", b"x", tarfile.REGTYPE, "unsafe path"),
        ("/tmp/precast-evil.txt", b"x", tarfile.REGTYPE, "unsafe path"),
        ("sub/evil.txt", b"x", tarfile.REGTYPE, "unsafe path"),
        ("evil.txt", b"/etc/passwd", tarfile.SYMTYPE, "symlink"),
        ("evil.txt", b"model.onnx", tarfile.LNKTYPE, "link"),
        ("extra.txt", b"x", tarfile.REGTYPE, "unexpected"),
        ("model.onnx", b"x", tarfile.REGTYPE, "duplicate"),
    ],
)
def test_hostile_members_are_refused(
    artifact_files: dict[str, bytes],
    keypair: KeyPair,
    tmp_path: Path,
    name: str,
    data: bytes,
    kind: bytes,
    message: str,
) -> None:
    """GIVEN a correctly signed bundle with one extra hostile member appended (traversal,
    absolute path, subdirectory, symlink, hard link, unlisted file, duplicate)
    WHEN it is opened
    THEN check=archive names the problem and nothing is written outside the temp dir."""
    entries = [*_signed(artifact_files, keypair.seed), (name, data, kind)]
    channel = tmp_path / "channel"
    channel.mkdir()
    bundle = _write_tar(channel / "b.pcb", entries)
    with pytest.raises(BundleVerificationError, match=message) as info:
        open_bundle(bundle, public_key=keypair.public)
    assert info.value.check == "archive"
    assert sorted(p.name for p in channel.iterdir()) == ["b.pcb"]
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/precast-evil.txt").exists()


def test_missing_member_is_refused(
    artifact_files: dict[str, bytes], keypair: KeyPair, tmp_path: Path
) -> None:
    """GIVEN a signed bundle.json listing model.onnx, but an archive without it
    WHEN it is opened
    THEN check=archive names the missing member."""
    entries = [e for e in _signed(artifact_files, keypair.seed) if e[0] != "model.onnx"]
    bundle = _write_tar(tmp_path / "b.pcb", entries)
    with pytest.raises(BundleVerificationError, match="missing model.onnx") as info:
        open_bundle(bundle, public_key=keypair.public)
    assert info.value.check == "archive"


def test_not_a_bundle(tmp_path: Path, keypair: KeyPair) -> None:
    """GIVEN random bytes named .pcb, a tar without bundle.json first, and a missing path
    WHEN each is opened
    THEN the first two are check=archive, the last an ArtifactError saying it is missing."""
    junk = tmp_path / "junk.pcb"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(BundleVerificationError) as info:
        open_bundle(junk, public_key=keypair.public)
    assert info.value.check == "archive"
    plain = _write_tar(tmp_path / "plain.pcb", [("model.onnx", b"x", tarfile.REGTYPE)])
    with pytest.raises(BundleVerificationError, match="expected bundle.json") as info:
        open_bundle(plain, public_key=keypair.public)
    assert info.value.check == "archive"
    with pytest.raises(ArtifactError, match="does not exist"):
        open_bundle(tmp_path / "nope.pcb", public_key=keypair.public)


def test_extract_to_never_replaces_a_foreign_directory(
    bundle_copy: Path, keypair: KeyPair, tmp_path: Path
) -> None:
    """GIVEN a non-empty directory that is not an unpacked bundle, and an empty one
    WHEN each is passed as extract_to
    THEN the first is refused and left untouched; the empty one receives the artifact."""
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ArtifactError, match="refusing"):
        open_bundle(bundle_copy, public_key=keypair.public, extract_to=foreign)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (
        open_bundle(bundle_copy, public_key=keypair.public, extract_to=empty) / "model.onnx"
    ).is_file()


def test_concurrent_opens_of_one_bundle_agree(
    bundle_copy: Path, keypair: KeyPair, tmp_path: Path
) -> None:
    """GIVEN four threads opening the same bundle into the same new directory at once
    WHEN they all finish
    THEN all return that directory, none fails, it verifies, and no temp dirs remain."""
    dest = tmp_path / "shared"
    results: list[object] = []

    def run() -> None:
        try:
            results.append(open_bundle(bundle_copy, public_key=keypair.public, extract_to=dest))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [dest] * 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "shared"]
    from edge.bundle_format import verify_directory

    assert (
        verify_directory(dest, keypair.public).version
        == json.loads((dest / MANIFEST_NAME).read_text())["version"]
    )


def test_directory_with_a_key_is_verified_or_refused(
    bundle_copy: Path, keypair: KeyPair, other_keypair: KeyPair, sample_artifact: Path
) -> None:
    """GIVEN an unpacked bundle directory and a plain artifact directory
    WHEN edge.load(directory, public_key=...) runs with the right key, another key, and on
    the artifact directory (no bundle.sig)
    THEN the first loads, the second is refused (signature), the third is refused saying
    the key cannot be checked there: public_key is never silently ignored."""
    dest = open_bundle(bundle_copy, public_key=keypair.public)
    assert edge.load(dest, public_key=keypair.public_path).version == sample_artifact.name
    with pytest.raises(BundleVerificationError) as info:
        edge.load(dest, public_key=other_keypair.public)
    assert info.value.check == "signature"
    with pytest.raises(BundleVerificationError, match="no bundle.sig"):
        edge.load(sample_artifact, public_key=keypair.public)

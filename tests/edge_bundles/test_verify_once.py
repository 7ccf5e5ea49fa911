"""Verify once per install, not once per load (edge/verify_stamp.py), and tampering after
the stamp is still refused.

GIVEN an artifact directory or an unpacked bundle whose files were hashed once WHEN it is
loaded again THEN nothing is hashed (and a bundle's signature is not re-checked for the
same bytes under the same key); WHEN a file is then altered (in place, same size, even with
its mtime restored) THEN the next load hashes it and refuses or repairs it; a different key
is still refused.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

import edge
from edge import bundle as edge_bundle
from edge import bundle_format, signing, verify_stamp
from edge.exceptions import ArtifactIntegrityError, BundleVerificationError
from edge.file_hash import sha256_file
from edge.verify_stamp import STAMP_NAME

from .conftest import KeyPair


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every file the loaders hash, by name; files count as settled at once."""
    seen: list[str] = []

    def counting(path: Path) -> str:
        seen.append(path.name)
        return sha256_file(path)

    monkeypatch.setattr(verify_stamp, "sha256_file", counting)
    monkeypatch.setattr(verify_stamp, "SETTLE_NS", 0)
    return seen


@pytest.fixture
def signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = bundle_format.check_signature

    def counting(*args: Any) -> str:
        seen.append(str(args[-1]))
        return real(*args)

    monkeypatch.setattr(bundle_format, "check_signature", counting)
    monkeypatch.setattr(edge_bundle, "check_signature", counting)  # imported by name there
    return seen


def _flip_last_byte(path: Path, *, keep_mtime: bool = False) -> None:
    st = path.stat()
    with open(path, "r+b") as fh:
        fh.seek(-1, os.SEEK_END)
        last = fh.read(1)
        fh.seek(-1, os.SEEK_END)
        fh.write(bytes([last[0] ^ 1]))
    if keep_mtime:  # mtime can be put back; ctime cannot
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_artifact_directory_is_hashed_once_then_tampering_is_caught(
    artifact_copy: Path, hashes: list[str]
) -> None:
    edge.load(artifact_copy)
    assert sorted(hashes) == ["model.onnx", "tokenizer.json"]
    assert (artifact_copy / STAMP_NAME).is_file()
    hashes.clear()
    edge.load(artifact_copy).predict(["hello"])
    assert hashes == []  # the second load trusts the stamp: no file hashed
    _flip_last_byte(artifact_copy / "tokenizer.json", keep_mtime=True)
    with pytest.raises(ArtifactIntegrityError, match="tokenizer.json"):
        edge.load(artifact_copy)
    assert hashes == ["tokenizer.json"]  # only the file whose stat changed


def test_a_copied_directory_with_its_stamp_is_hashed_again(
    artifact_copy: Path, tmp_path: Path, hashes: list[str]
) -> None:
    """The stamp names inodes: a copy (new inodes) is verified like any new directory."""
    edge.load(artifact_copy)
    copy = tmp_path / "copied"
    shutil.copytree(artifact_copy, copy)
    hashes.clear()
    edge.load(copy)
    assert sorted(hashes) == ["model.onnx", "tokenizer.json"]


def test_a_file_changed_just_before_it_was_hashed_is_not_stamped(artifact_copy: Path) -> None:
    """Racily clean: a file younger than SETTLE_NS could change again within the clock's
    tick unseen, so it is hashed on the next load too."""
    (artifact_copy / "tokenizer.json").write_bytes((artifact_copy / "tokenizer.json").read_bytes())
    edge.load(artifact_copy)
    stamp = verify_stamp.Stamp(artifact_copy)
    assert "tokenizer.json" not in stamp.files


def test_a_bundle_is_verified_once_then_tampering_is_repaired(
    bundle_copy: Path, keypair: KeyPair, hashes: list[str], signature_checks: list[str]
) -> None:
    edge.load(bundle_copy, public_key=keypair.public_path)
    dest = bundle_copy.parent / bundle_copy.name.removesuffix(".pcb")
    assert signature_checks  # verified on first open
    edge.load(bundle_copy, public_key=keypair.public_path)  # reuse: hash + stamp the files
    hashes.clear()
    signature_checks.clear()
    edge.load(bundle_copy, public_key=keypair.public_path).predict(["hello"])
    assert hashes == [] and signature_checks == []  # same bytes, same key: not repeated
    good = sha256_file(dest / "model.onnx")
    _flip_last_byte(dest / "model.onnx", keep_mtime=True)
    model = edge.load(bundle_copy, public_key=keypair.public_path)
    assert sha256_file(model.directory / "model.onnx") == good  # re-extracted from the bundle
    assert signature_checks  # and verified again


def test_a_stamped_extraction_does_not_vouch_for_another_key(
    bundle_copy: Path, keypair: KeyPair, tmp_path: Path, hashes: list[str]
) -> None:
    edge.load(bundle_copy, public_key=keypair.public_path)
    edge.load(bundle_copy, public_key=keypair.public_path)
    signing.generate_key(tmp_path, "other")
    with pytest.raises(BundleVerificationError) as info:
        edge.load(bundle_copy, public_key=tmp_path / "other.pub")
    assert info.value.check == "signature"


def test_load_current_after_install_hashes_nothing(artifact_copy: Path, hashes: list[str]) -> None:
    """The loaders share one stamp per directory: verify_files after verify_files is free,
    whichever loader (edge.load, the updater's install, load_current) wrote it."""
    from edge.manifest import read_manifest, verify_files

    verify_files(artifact_copy, read_manifest(artifact_copy))
    hashes.clear()
    verify_files(artifact_copy, read_manifest(artifact_copy))
    assert hashes == []
    (artifact_copy / STAMP_NAME).unlink()  # no stamp: hashed as before
    verify_files(artifact_copy, read_manifest(artifact_copy))
    assert sorted(hashes) == ["model.onnx", "tokenizer.json"]

"""The small parts, each with its failure modes: bundle.json / latest.json parsing, on-disk
re-verification, the health check's verdicts, and update-source errors."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

from edge.bundle_format import (
    BUNDLE_SIG,
    MAX_MEMBER_BYTES,
    IndexEntry,
    canonical_json,
    check_format,
    check_signature,
    parse_bundle_json,
    parse_index,
    signature_document,
    verify_directory,
)
from edge.exceptions import BundleVerificationError, DownloadError, UpdateError
from edge.health import smoke_check
from edge.update_source import DirectorySource, HttpSource, S3Source, download, open_source
from edge.updater import Updater, is_older

from .conftest import KeyPair, VariantFactory

SHA = "a" * 64
GOOD_DOC: dict[str, Any] = {
    "format_version": 1,
    "name": "minilm",
    "version": "v1",
    "created_at": "2026-01-01T00:00:00+00:00",
    "members": {"model.onnx": {"sha256": SHA, "size": 10}},
}


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"name": ""}, "'name'"),
        ({"created_at": 5}, "'created_at'"),
        ({"members": {}}, "must list"),
        ({"members": {f"f{i}": {"sha256": SHA, "size": 1} for i in range(33)}}, "must list"),
        ({"members": {"../x": {"sha256": SHA, "size": 1}}}, "unsafe member"),
        ({"members": {BUNDLE_SIG: {"sha256": SHA, "size": 1}}}, "unsafe member"),
        ({"members": {"m": {"sha256": "xyz", "size": 1}}}, "needs sha256"),
        ({"members": {"m": {"sha256": SHA, "size": True}}}, "needs sha256"),
        ({"members": {"m": {"sha256": SHA, "size": -1}}}, "declares"),
        (
            {"members": {f"m{i}": {"sha256": SHA, "size": MAX_MEMBER_BYTES} for i in range(3)}},
            "total",
        ),
        ({"version": "../../etc"}, "plain identifiers"),
    ],
)
def test_bundle_json_structure_is_checked(change: dict[str, Any], needle: str) -> None:
    """GIVEN a signed-looking bundle.json with one field wrong
    WHEN it is parsed
    THEN check=format names the field; the unchanged document parses."""
    assert parse_bundle_json(GOOD_DOC, b"{}", "k", "b").members["model.onnx"].size == 10
    with pytest.raises(BundleVerificationError, match=needle) as info:
        parse_bundle_json({**GOOD_DOC, **change}, b"{}", "k", "b")
    assert info.value.check == "format"


@pytest.mark.parametrize("raw", [b"\xff", b"[1]", b'{"format_version": true}', b"{}"])
def test_unreadable_bundle_json_is_a_format_error(raw: bytes) -> None:
    """GIVEN bundle.json bytes that are not UTF-8 JSON, not an object, or lack a version
    WHEN the format is checked
    THEN check=format."""
    with pytest.raises(BundleVerificationError) as info:
        check_format(raw, "b")
    assert info.value.check == "format"


def test_signature_document_faults(keypair: KeyPair) -> None:
    """GIVEN a bundle.json and signature documents with a foreign algorithm, no base64,
    or a signature over other bytes
    WHEN each is checked with the right key
    THEN check=signature each time; the real signature returns the key id."""
    body = canonical_json(GOOD_DOC)
    good = signature_document(keypair.seed, body)
    assert len(check_signature(body, good, keypair.public, "b")) == 16
    doc = json.loads(good)
    for bad in (
        {**doc, "algorithm": "rsa"},
        {**doc, "signature": "not base64!"},
        {**doc, "signature": base64.b64encode(b"\0" * 64).decode()},
    ):
        with pytest.raises(BundleVerificationError) as info:
            check_signature(body, canonical_json(bad), keypair.public, "b")
        assert info.value.check == "signature"


def test_index_round_trip_and_faults() -> None:
    """GIVEN an index entry
    WHEN it is serialized and parsed, and when fields are missing, unsafe or impossible
    THEN the round trip is exact, and each fault is a format error naming the problem."""
    entry = IndexEntry("minilm", "v1", "minilm-v1.pcb", SHA, 123, "2026-01-01T00:00:00+00:00")
    assert parse_index(entry.to_json(), "i") == entry
    doc = json.loads(entry.to_json())
    for change, needle in (
        ({"size": "123"}, "'size'"),
        ({"bundle": "../x.pcb"}, "unsafe"),
        ({"sha256": "abc"}, "bad sha256"),
        ({"size": 0}, "impossible size"),
    ):
        with pytest.raises(BundleVerificationError, match=needle):
            parse_index(json.dumps({**doc, **change}).encode(), "i")


def test_verify_directory_catches_extra_missing_and_altered_files(
    good_bundle: Path, keypair: KeyPair, tmp_path: Path
) -> None:
    """GIVEN an unpacked bundle
    WHEN it is re-verified as is, with an extra file, with a file removed, or an empty dir
    THEN it passes as is, and otherwise check=hash (altered) or archive (not a bundle)."""
    from edge.bundle import open_bundle

    dest = open_bundle(good_bundle, public_key=keypair.public, extract_to=tmp_path / "x")
    assert verify_directory(dest, keypair.public).name == "minilm"
    (dest / "extra.txt").write_text("x")
    with pytest.raises(BundleVerificationError, match="expected") as info:
        verify_directory(dest, keypair.public)
    assert info.value.check == "hash"
    (dest / "extra.txt").unlink()
    os.truncate(dest / "tokenizer.json", 10)
    with pytest.raises(BundleVerificationError, match="tokenizer.json has 10 bytes"):
        verify_directory(dest, keypair.public)
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleVerificationError) as info:
        verify_directory(tmp_path / "empty", keypair.public)
    assert info.value.check == "archive"


def test_health_check_verdicts(make_variant: VariantFactory, artifact_copy: Path) -> None:
    """GIVEN a good artifact, one without smoke data, one whose smoke vectors have the
    wrong width, and one whose model file is damaged
    WHEN each is health-checked
    THEN pass with cosine ~1; pass on finite output with a note; fail on shape; fail on load."""
    good = smoke_check(make_variant("h1"))
    assert good.passed and good.min_cosine is not None and good.min_cosine > 0.99
    assert "min smoke cosine" in good.describe()
    no_smoke = smoke_check(make_variant("h2", edit=lambda m: m.pop("smoke")))
    assert no_smoke.passed and "no smoke set" in no_smoke.describe()
    narrow = smoke_check(
        make_variant("h3", edit=lambda m: m["smoke"].update(vectors=[[1.0, 0.0]] * 4))
    )
    assert not narrow.passed and "shape" in narrow.describe()
    with open(artifact_copy / "model.onnx", "r+b") as fh:
        fh.write(b"garbage")
    broken = smoke_check(artifact_copy)
    assert not broken.passed and "does not load" in broken.describe()


def test_open_source_picks_the_right_kind(tmp_path: Path) -> None:
    """GIVEN source strings of every supported form and an unsupported one
    WHEN they are opened
    THEN each maps to its source with the right index location; ftp:// and an s3 URI
    without a bucket are refused with what to use instead."""
    assert isinstance(open_source(tmp_path), DirectorySource)
    assert open_source(f"file://{tmp_path}").uri == str(tmp_path)  # type: ignore[attr-defined]
    http = open_source("https://cdn.example/bundles/minilm")
    assert isinstance(http, HttpSource)
    assert http.index_url == "https://cdn.example/bundles/minilm/latest.json"
    s3 = open_source("s3://bucket/bundles/minilm/latest.json")
    assert isinstance(s3, S3Source) and (s3.bucket, s3.prefix) == ("bucket", "bundles/minilm/")
    assert S3Source("s3://bucket").index_key == "latest.json"
    assert S3Source("s3://bucket/latest.json").prefix == ""
    with pytest.raises(UpdateError, match="s3://"):
        open_source("ftp://host/x")
    with pytest.raises(UpdateError, match="no bucket"):
        open_source("s3:///prefix")


@pytest.mark.integration
def test_http_errors_are_update_errors(tmp_path: Path) -> None:
    """GIVEN an http channel that answers 404 and one nobody listens on
    WHEN their index is read
    THEN UpdateError names the status or says the host cannot be reached."""
    from .test_updater import serve

    with serve(tmp_path) as url, pytest.raises(UpdateError, match="HTTP 404"):
        HttpSource(url).read_index()
    with pytest.raises(UpdateError, match="cannot reach"):
        HttpSource("http://127.0.0.1:9/").read_index()


def test_source_sending_more_than_the_index_says_is_refused(tmp_path: Path) -> None:
    """GIVEN an index that states fewer bytes than the bundle file has
    WHEN it is downloaded
    THEN DownloadError says the index and the bundle disagree, and never writes past size."""
    (tmp_path / "b.pcb").write_bytes(b"x" * 100)
    entry = IndexEntry("m", "v", "b.pcb", SHA, 50, "")
    part = tmp_path / "dl.part"
    with pytest.raises(DownloadError, match="disagree"):
        download(DirectorySource(tmp_path), entry, part)
    assert part.stat().st_size <= 50


def test_is_older_and_sourceless_updater(tmp_path: Path, keypair: KeyPair) -> None:
    """GIVEN timestamps in different offsets, empty ones, and an Updater without a source
    WHEN they are compared / the updater is asked to update
    THEN comparison is by instant (unknown = not older), and update says a source is needed."""
    assert is_older("2026-01-01T00:00:00+02:00", "2026-01-01T00:00:00+00:00")
    assert not is_older("", "2026-01-01T00:00:00+00:00")
    assert not is_older("2026-01-02T00:00:00+00:00", "2026-01-01T00:00:00+00:00")
    with pytest.raises(UpdateError, match="no source"):
        Updater(None, tmp_path, keypair.public).update()


def test_smoke_vectors_are_per_text_and_reproduce_exactly(sample_model: Any) -> None:
    """GIVEN the artifact's manifest smoke set WHEN recomputed on this machine THEN each
    stored vector is that text run alone (dynamic int8 shifts a vector with its batch
    neighbours), so the health check compares like with like: cosine ~1, not ~0.99."""
    import numpy as np

    from edge.health import smoke_vectors

    smoke = sample_model.manifest.smoke
    texts = [str(t) for t in smoke["texts"]]
    stored = np.asarray(smoke["vectors"], dtype=np.float32)
    alone = smoke_vectors(sample_model, texts)
    assert np.allclose(alone, np.vstack([sample_model.predict([t]) for t in texts]))
    assert float((alone * stored).sum(axis=1).min()) > 0.9999

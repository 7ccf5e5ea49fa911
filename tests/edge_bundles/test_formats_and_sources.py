"""The small parts, each with its failure modes: bundle.json parsing, signatures, on-disk
re-verification, the health check's verdicts, channel URLs and the fetcher's errors."""

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
    canonical_json,
    check_format,
    check_signature,
    parse_bundle_json,
    signature_document,
    verify_directory,
)
from edge.channel_fetcher import ChannelFetcher
from edge.exceptions import BundleVerificationError, UpdateError
from edge.health import smoke_check
from edge.update_source import DownloadLimits, channel_url
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
    assert check_signature(body, good, keypair.public, "b") == keypair.seed.public_key.keyid
    doc = json.loads(good)
    for bad in (
        {**doc, "algorithm": "rsa"},
        {**doc, "signature": "not base64!"},
        {**doc, "signature": base64.b64encode(b"\0" * 64).decode()},
        {**doc, "key_id": "f" * 64},
    ):
        with pytest.raises(BundleVerificationError) as info:
            check_signature(body, canonical_json(bad), keypair.public, "b")
        assert info.value.check == "signature"


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


def test_channel_url_picks_the_right_form(tmp_path: Path) -> None:
    """GIVEN channel sources of every supported form and unsupported ones
    WHEN they become channel URLs
    THEN a directory / file:// becomes a file:// URL, http(s) and s3 keep theirs, each with a
    trailing slash; ftp:// and URLs of one object (a presigned .pcb, a .json, a query) are
    refused saying what a channel is."""
    assert channel_url(tmp_path) == tmp_path.resolve().as_uri() + "/"
    assert channel_url(f"file://{tmp_path}") == tmp_path.resolve().as_uri() + "/"
    assert (
        channel_url("https://cdn.example/bundles/minilm") == "https://cdn.example/bundles/minilm/"
    )
    assert channel_url("s3://bucket/bundles/minilm/") == "s3://bucket/bundles/minilm/"
    with pytest.raises(UpdateError, match="s3://"):
        channel_url("ftp://host/x")
    for one_object in (
        "https://b.s3.amazonaws.com/bundles/minilm/minilm-v1.pcb?X-Amz-Signature=ab",
        "https://cdn.example/bundles/minilm/latest.json",
        "s3://bucket/bundles/minilm/targets/x.pcb",
    ):
        with pytest.raises(UpdateError, match="names one object"):
            channel_url(one_object)


@pytest.mark.integration
def test_fetcher_errors_are_tuf_download_errors(tmp_path: Path) -> None:
    """GIVEN an http channel that answers 404, one nobody listens on, and a missing file
    WHEN the fetcher downloads from them
    THEN 404s are DownloadHTTPError(404) (how ngclient knows a root is the newest), an
    unreachable host a DownloadError saying so."""
    from tuf.api.exceptions import DownloadError as TufDownloadError
    from tuf.api.exceptions import DownloadHTTPError

    from .hostile_channel import serve

    fetcher = ChannelFetcher(DownloadLimits())
    with serve(tmp_path) as url, pytest.raises(DownloadHTTPError) as info:
        fetcher.download_bytes(url + "2.root.json", 1000)
    assert info.value.status_code == 404
    with pytest.raises(DownloadHTTPError):
        fetcher.download_bytes((tmp_path / "nope.json").as_uri(), 1000)
    with pytest.raises(TufDownloadError, match="cannot reach|Failed"):
        fetcher.download_bytes("http://127.0.0.1:9/x.json", 1000)


def test_s3_channel_without_boto3_says_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a device without boto3 (its import fails)
    WHEN the fetcher reads an s3:// channel
    THEN UpdateError says to `pip install boto3` (never a raw ModuleNotFoundError)."""
    import builtins

    real_import = builtins.__import__

    def no_boto(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] in ("boto3", "botocore"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_boto)
    from edge.updater import tuf_errors

    with pytest.raises(UpdateError, match="pip install boto3"), tuf_errors("s3://b/p/"):
        ChannelFetcher(DownloadLimits()).download_bytes("s3://b/p/metadata/timestamp.json", 100)


def test_is_older_and_sourceless_updater(tmp_path: Path, keypair: KeyPair) -> None:
    """GIVEN timestamps in different offsets, empty ones, and an Updater without a source
    WHEN they are compared / the updater is asked to update
    THEN comparison is by instant (unknown = not older), and update says a source is needed."""
    assert is_older("2026-01-01T00:00:00+02:00", "2026-01-01T00:00:00+00:00")
    assert not is_older("", "2026-01-01T00:00:00+00:00")
    assert not is_older("2026-01-02T00:00:00+00:00", "2026-01-01T00:00:00+00:00")
    (tmp_path / "root.json").write_bytes(b"{}")
    with pytest.raises(UpdateError, match="no source"):
        Updater(None, tmp_path, tmp_path / "root.json", model="minilm").update()
    with pytest.raises(UpdateError, match="plain model name"):
        Updater(None, tmp_path, tmp_path / "root.json", model="../x")


def test_smoke_vectors_are_per_text_and_reproduce_exactly(sample_model: Any) -> None:
    """GIVEN the artifact's manifest smoke set WHEN recomputed on this machine THEN each
    stored vector is that text run alone (dynamic int8 shifts a vector with its batch
    neighbours), so the health check compares like with like: cosine ~1, not ~0.99."""
    import numpy as np

    from edge.smoke import smoke_vectors

    smoke = sample_model.manifest.smoke
    texts = list(smoke.texts or ())
    stored = np.asarray(smoke.vectors, dtype=np.float32)
    alone = smoke_vectors(sample_model, texts)
    assert np.allclose(alone, np.vstack([sample_model.predict([t]) for t in texts]))
    assert float((alone * stored).sum(axis=1).min()) > 0.9999

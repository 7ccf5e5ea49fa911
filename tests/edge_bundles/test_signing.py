"""Channel keys through securesystemslib: files, accepted forms, weak keys refused, and
signatures checked by both of securesystemslib's verifiers (cryptography and vendored)."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from edge import signing
from edge.exceptions import SigningKeyError

P = 2**255 - 19
SMALL_ORDER = [
    bytes(32),  # y = 0: order 4
    (1).to_bytes(32, "little"),  # the identity
    (P - 1).to_bytes(32, "little"),  # order 2
    bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"),  # sign bit
]


def test_role_key_files(tmp_path: Path) -> None:
    """GIVEN an empty keys dir
    WHEN role keys are generated (targets with a threshold of 2), then generated again
    THEN each private file is 0600 PEM, each .pub is base64 of the signer's 32 raw bytes,
    targets has targets.key and targets-2.key; the second run refuses to replace them and
    points at rotate-key."""
    made = signing.generate_role_keys(tmp_path, thresholds={"targets": 2})
    assert [len(made[r]) for r in signing.ROLES] == [1, 2, 1, 1]
    assert signing.role_key_names(tmp_path, "targets") == ["targets", "targets-2"]
    for role in signing.ROLES:
        assert stat.S_IMODE((tmp_path / f"{role}.key").stat().st_mode) == 0o600
        assert (tmp_path / f"{role}.key").read_bytes().startswith(b"-----BEGIN PRIVATE KEY")
        loaded = signing.load_signer(tmp_path / f"{role}.key")
        assert loaded.public_key == made[role][0].public_key
        pub = signing.load_public_key(tmp_path / f"{role}.pub")
        assert pub == made[role][0].public_key  # same TUF key id and value
    with pytest.raises(SigningKeyError, match="rotate-key"):
        signing.generate_role_keys(tmp_path)


def test_public_key_accepted_forms_and_lists(tmp_path: Path) -> None:
    """GIVEN one public key
    WHEN given as raw bytes, base64 text, base64 bytes, a path string, a Path, or inside a list
    THEN every form loads to the same key; an empty list is refused."""
    signer = signing.generate_key(tmp_path, "targets")
    raw = signing.key_bytes(signer.public_key)
    text = base64.b64encode(raw).decode()
    path = tmp_path / "targets.pub"
    for form in (raw, text, text.encode(), str(path), path):
        assert signing.load_public_key(form) == signer.public_key
    assert signing.load_public_keys([raw, signer.public_key]) == [signer.public_key] * 2
    with pytest.raises(SigningKeyError, match="empty list"):
        signing.load_public_keys([])


@pytest.mark.parametrize("raw", SMALL_ORDER, ids=lambda b: b.hex()[:8])
def test_small_order_public_keys_are_refused(raw: bytes) -> None:
    """GIVEN the all-zero key, the identity and the other small-order points (either sign)
    WHEN loaded as a public key
    THEN SigningKeyError: a forger (R small order, S = 0) could satisfy them."""
    with pytest.raises(SigningKeyError, match="small-order"):
        signing.load_public_key(raw)


def test_non_canonical_public_keys_are_refused() -> None:
    """GIVEN encodings with y >= p (non-canonical; p and p+1 alias the small-order 0 and 1)
    WHEN loaded THEN SigningKeyError says non-canonical."""
    for y in (P, P + 1, 2**255 - 1):
        with pytest.raises(SigningKeyError, match="canonical"):
            signing.load_public_key(y.to_bytes(32, "little"))


def test_vendored_verifier_agrees(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """GIVEN a signature made by a CryptoSigner
    WHEN it is verified by securesystemslib with cryptography, and with its pure-Python
    fallback (what a device without cryptography uses)
    THEN both accept it and both refuse the same signature over other bytes."""
    from securesystemslib.exceptions import UnverifiedSignatureError
    from securesystemslib.signer import _key

    signer = signing.generate_key(tmp_path, "targets")
    key = signing.load_public_key(tmp_path / "targets.pub")
    sig = signer.sign(b"message")
    key.verify_signature(sig, b"message")
    monkeypatch.setattr(_key, "CRYPTO_IMPORT_ERROR", "cryptography is not installed")
    key.verify_signature(sig, b"message")
    with pytest.raises(UnverifiedSignatureError):
        key.verify_signature(sig, b"other message")


@pytest.mark.parametrize(
    ("content", "message"),
    [("not base64!!", "not base64"), (base64.b64encode(b"x" * 31).decode(), "31 bytes")],
)
def test_bad_key_files_say_what_is_wrong(tmp_path: Path, content: str, message: str) -> None:
    """GIVEN a key file with garbage or a key of the wrong length, a missing file, and a
    private key file that is not PEM
    WHEN read THEN SigningKeyError says what is wrong; a missing file points at `precast keys`."""
    path = tmp_path / "k.pub"
    path.write_text(content)
    with pytest.raises(SigningKeyError, match=message):
        signing.load_public_key(path)
    with pytest.raises(SigningKeyError, match="precast keys"):
        signing.load_public_key(tmp_path / "missing.pub")
    with pytest.raises(SigningKeyError, match="precast keys"):
        signing.load_role_signers(tmp_path, "targets")
    (tmp_path / "bad.key").write_text("junk")
    with pytest.raises(SigningKeyError, match="not a PEM"):
        signing.load_signer(tmp_path / "bad.key")

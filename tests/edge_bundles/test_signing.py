"""Pure-Python Ed25519: RFC 8032 vectors, agreement with `cryptography`, key files."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from edge import signing
from edge.exceptions import SigningKeyError

# RFC 8032 section 7.1: (secret key, public key, message, signature), hex.
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e"
        "39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f"
        "3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67"
        "f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
    (  # TEST SHA(abc): the message is SHA-512("abc")
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        hashlib.sha512(b"abc").hexdigest(),
        "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfb"
        "c7c66431e0303dca179c138ac17ad9bef1177331a704",
    ),
]


@pytest.mark.parametrize(("secret", "public", "message", "signature"), RFC8032)
def test_rfc8032_vectors(secret: str, public: str, message: str, signature: str) -> None:
    """GIVEN an RFC 8032 test vector
    WHEN the key is derived, the message signed and the signature verified
    THEN the public key and signature are byte-identical to the RFC and verify passes."""
    seed, msg = bytes.fromhex(secret), bytes.fromhex(message)
    assert signing.public_key(seed).hex() == public
    assert signing.sign(seed, msg).hex() == signature
    assert signing.verify(bytes.fromhex(public), msg, bytes.fromhex(signature))


def _crypto_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@pytest.mark.parametrize("n", range(12))
def test_agrees_with_cryptography_on_random_keys(n: int) -> None:
    """GIVEN a random seed and a random message of varying length
    WHEN both this module and `cryptography` (OpenSSL) derive, sign and verify
    THEN keys and signatures are identical and each verifies the other's signature."""
    seed, msg = os.urandom(32), os.urandom(n * 37)
    theirs = Ed25519PrivateKey.from_private_bytes(seed)
    pub = _crypto_public(theirs)
    assert signing.public_key(seed) == pub
    ours_sig, their_sig = signing.sign(seed, msg), theirs.sign(msg)
    assert ours_sig == their_sig
    assert signing.verify(pub, msg, their_sig)
    Ed25519PublicKey.from_public_bytes(pub).verify(ours_sig, msg)  # raises if invalid


def test_rejects_altered_message_signature_and_key() -> None:
    """GIVEN a valid signature
    WHEN one bit of the message, of R, of S, or of the key changes
    THEN verify returns False every time (and True for the original)."""
    seed, msg = os.urandom(32), b"bundle.json bytes"
    pub, sig = signing.public_key(seed), signing.sign(seed, msg)
    assert signing.verify(pub, msg, sig)
    flip = lambda b, i: b[:i] + bytes([b[i] ^ 1]) + b[i + 1 :]  # noqa: E731
    assert not signing.verify(pub, flip(msg, 0), sig)
    assert not signing.verify(pub, msg, flip(sig, 0))
    assert not signing.verify(pub, msg, flip(sig, 40))
    assert not signing.verify(flip(pub, 0), msg, sig)
    assert not signing.verify(signing.public_key(os.urandom(32)), msg, sig)


def test_rejects_malformed_inputs() -> None:
    """GIVEN a valid signature
    WHEN S is replaced by S + L (non-canonical), lengths are wrong, or R is not a point
    THEN verify returns False instead of raising or accepting."""
    seed, msg = os.urandom(32), b"m"
    pub, sig = signing.public_key(seed), signing.sign(seed, msg)
    s = int.from_bytes(sig[32:], "little") + signing._L
    assert not signing.verify(pub, msg, sig[:32] + s.to_bytes(32, "little"))
    assert not signing.verify(pub, msg, sig[:63])
    assert not signing.verify(pub[:31], msg, sig)
    not_a_point = (2).to_bytes(32, "little")  # y = 2 has no x on the curve
    assert signing._decompress(not_a_point) is None
    assert not signing.verify(pub, msg, not_a_point + sig[32:])
    assert not signing.verify(b"\xff" * 32, msg, sig)  # y >= p


def test_key_pair_files(tmp_path: Path) -> None:
    """GIVEN an empty keys dir
    WHEN a key pair is written, then written again without and with force
    THEN the private file is 0600, both are base64 of 32 bytes that match, the second write
    is refused with a hint about --force, and force makes a different pair."""
    priv, pub_path, pub = signing.write_key_pair(tmp_path / "keys")
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    seed = base64.b64decode(priv.read_text())
    assert len(seed) == 32 and signing.public_key(seed) == pub
    assert base64.b64decode(pub_path.read_text()) == pub
    with pytest.raises(SigningKeyError, match="--force"):
        signing.write_key_pair(tmp_path / "keys")
    _, _, pub2 = signing.write_key_pair(tmp_path / "keys", force=True)
    assert pub2 != pub and signing.read_key_file(pub_path) == pub2


def test_public_key_accepted_forms(tmp_path: Path) -> None:
    """GIVEN one public key
    WHEN given as raw bytes, base64 text, base64 bytes, a path string or a Path
    THEN every form loads to the same 32 bytes."""
    _, pub_path, pub = signing.write_key_pair(tmp_path)
    text = base64.b64encode(pub).decode()
    for form in (pub, text, text.encode(), str(pub_path), pub_path):
        assert signing.load_public_key(form) == pub


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not base64!!", "not base64"),
        (base64.b64encode(b"x" * 31).decode(), "31 bytes"),
    ],
)
def test_bad_key_files_say_what_is_wrong(tmp_path: Path, content: str, message: str) -> None:
    """GIVEN a key file with garbage or a key of the wrong length
    WHEN it is read
    THEN SigningKeyError says what is wrong; a missing file points at `precast keys`."""
    path = tmp_path / "k.pub"
    path.write_text(content)
    with pytest.raises(SigningKeyError, match=message):
        signing.read_key_file(path)
    with pytest.raises(SigningKeyError, match="precast keys"):
        signing.read_key_file(tmp_path / "missing.pub")
    with pytest.raises(SigningKeyError, match="32 bytes"):
        signing.sign(b"short", b"m")

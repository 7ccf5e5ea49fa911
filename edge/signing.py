"""Ed25519 (RFC 8032) in pure Python: sign bundles on the build host, verify them on devices.

A device carries only onnxruntime, numpy and tokenizers, so verification cannot lean on a
crypto package. This is the RFC's reference algorithm (section 6) with Python ints, using
extended twisted-Edwards coordinates, a dedicated doubling formula and one joint
double-and-add (Straus) for ``[s]B - [h]A`` in :func:`verify`; one verify takes a few ms.

Signatures are deterministic, so the output is byte-identical to any conforming
implementation (the tests cross-check against ``cryptography``). The arithmetic is not
constant-time: that matters for *signing* (a timing observer could learn the key), which
runs on the build host that holds the private key, never on a device.

Keys are raw 32-byte values stored base64 in text files: ``precast_ed25519.key`` (the
seed, mode 0600) and ``precast_ed25519.pub`` (the public key).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from edge.durable_fs import write_atomic
from edge.exceptions import SigningKeyError

PRIVATE_KEY_FILE = "precast_ed25519.key"
PUBLIC_KEY_FILE = "precast_ed25519.pub"
KEY_BYTES = 32
SIGNATURE_BYTES = 64

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)

Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z
_IDENTITY: Point = (0, 1, 1, 0)


def _add(p: Point, q: Point) -> Point:
    a = (p[1] - p[0]) * (q[1] - q[0]) % _P
    b = (p[1] + p[0]) * (q[1] + q[0]) % _P
    c = 2 * p[3] * q[3] * _D % _P
    d = 2 * p[2] * q[2] % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _double(p: Point) -> Point:
    a = p[0] * p[0] % _P
    b = p[1] * p[1] % _P
    c = 2 * p[2] * p[2] % _P
    h = a + b
    e = h - (p[0] + p[1]) * (p[0] + p[1]) % _P
    g = a - b
    f = c + g
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(k: int, p: Point) -> Point:
    q = _IDENTITY
    for bit in bin(k)[2:]:
        q = _double(q)
        if bit == "1":
            q = _add(q, p)
    return q


def _mul2(k1: int, p1: Point, k2: int, p2: Point) -> Point:
    """``[k1]p1 + [k2]p2`` with one shared chain of doublings (Straus' trick)."""
    both = _add(p1, p2)
    q = _IDENTITY
    for i in range(max(k1.bit_length(), k2.bit_length()) - 1, -1, -1):
        q = _double(q)
        b1, b2 = (k1 >> i) & 1, (k2 >> i) & 1
        if b1 and b2:
            q = _add(q, both)
        elif b1:
            q = _add(q, p1)
        elif b2:
            q = _add(q, p2)
    return q


def _equal(p: Point, q: Point) -> bool:
    if (p[0] * q[2] - q[0] * p[2]) % _P != 0:
        return False
    return (p[1] * q[2] - q[1] * p[2]) % _P == 0


def _recover_x(y: int, sign: int) -> int | None:
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


def _compress(p: Point) -> bytes:
    zinv = pow(p[2], _P - 2, _P)
    x, y = p[0] * zinv % _P, p[1] * zinv % _P
    return int.to_bytes(y | ((x & 1) << 255), 32, "little")


def _decompress(s: bytes) -> Point | None:
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % _P)


_GY = 4 * pow(5, _P - 2, _P) % _P
_GX = _recover_x(_GY, 0)
assert _GX is not None
_G: Point = (_GX, _GY, 1, _GX * _GY % _P)


def _sha512_mod_l(*parts: bytes) -> int:
    return int.from_bytes(hashlib.sha512(b"".join(parts)).digest(), "little") % _L


def _expand(seed: bytes) -> tuple[int, bytes]:
    if len(seed) != KEY_BYTES:
        raise SigningKeyError(f"an Ed25519 private key is {KEY_BYTES} bytes, got {len(seed)}")
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def public_key(seed: bytes) -> bytes:
    """The 32-byte public key of a 32-byte private key (seed)."""
    a, _ = _expand(seed)
    return _compress(_mul(a, _G))


def generate_seed() -> bytes:
    """A new random 32-byte private key from the OS CSPRNG."""
    return os.urandom(KEY_BYTES)


def sign(seed: bytes, message: bytes) -> bytes:
    """The 64-byte Ed25519 signature of ``message`` (RFC 8032 section 5.1.6)."""
    a, prefix = _expand(seed)
    pub = _compress(_mul(a, _G))
    r = _sha512_mod_l(prefix, message)
    big_r = _compress(_mul(r, _G))
    h = _sha512_mod_l(big_r, pub, message)
    s = (r + h * a) % _L
    return big_r + int.to_bytes(s, 32, "little")


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """True if ``signature`` is a valid Ed25519 signature of ``message`` by ``public``."""
    if len(public) != KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    a = _decompress(public)
    r = _decompress(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= _L:
        return False
    h = _sha512_mod_l(signature[:32], public, message)
    neg_a = (_P - a[0], a[1], a[2], _P - a[3])
    # [s]B - [h]A must equal R
    return _equal(_mul2(s, _G, h, neg_a), r)


def key_id(public: bytes) -> str:
    """A short, stable name for a public key (first 16 hex digits of its sha256)."""
    return hashlib.sha256(public).hexdigest()[:16]


def encode_key(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def decode_key(text: str, what: str = "key") -> bytes:
    """Raw 32 bytes from base64 text (whitespace ignored). Raises :class:`SigningKeyError`."""
    try:
        raw = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise SigningKeyError(f"{what} is not base64 text") from None
    if len(raw) != KEY_BYTES:
        raise SigningKeyError(
            f"{what} decodes to {len(raw)} bytes; an Ed25519 key is {KEY_BYTES} bytes"
        )
    return raw


def read_key_file(path: Path) -> bytes:
    """The raw key stored base64 in ``path``."""
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise SigningKeyError(
            f"key file {path} does not exist; create a key pair with `precast keys`"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SigningKeyError(f"key file {path} is unreadable: {exc}") from None
    return decode_key(text, what=f"key file {path}")


def load_public_key(value: str | bytes | Path) -> bytes:
    """A public key given as raw 32 bytes, base64 text, or a path to a ``.pub`` file."""
    if isinstance(value, bytes):
        if len(value) == KEY_BYTES:
            return value
        return decode_key(value.decode("ascii", errors="replace"), what="public key")
    if isinstance(value, Path):
        return read_key_file(value)
    text = value.strip()
    if len(text) == 44 and text.endswith("=") and not os.path.exists(text):
        return decode_key(text, what="public key")
    return read_key_file(Path(text))


def write_key_pair(directory: Path, *, force: bool = False) -> tuple[Path, Path, bytes]:
    """Create ``precast_ed25519.key`` (0600) and ``.pub`` in ``directory``.

    Refuses to overwrite an existing key unless ``force``: bundles signed with the old key
    would no longer verify on devices that pin the new one.
    """
    private_path = directory / PRIVATE_KEY_FILE
    public_path = directory / PUBLIC_KEY_FILE
    if not force and (private_path.exists() or public_path.exists()):
        raise SigningKeyError(
            f"a key pair already exists in {directory}; devices pin its public key. "
            "Pass --force to replace it (then re-sign bundles and update devices' keys)."
        )
    directory.mkdir(parents=True, exist_ok=True)
    seed = generate_seed()
    pub = public_key(seed)
    write_atomic(private_path, (encode_key(seed) + "\n").encode("ascii"), mode=0o600)
    write_atomic(public_path, (encode_key(pub) + "\n").encode("ascii"))
    return private_path, public_path, pub

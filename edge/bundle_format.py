"""The edge bundle format: ``bundle.json`` and its detached signature.

A bundle ``<model>-<version>.pcb`` is a gzip-compressed tar whose members are, in order::

    bundle.json      what is inside: format_version, name, version, created_at, and the
                     sha256 + size of every other member (canonical JSON bytes)
    bundle.sig       {"algorithm": "ed25519", "key_id": ..., "signature": base64} over
                     SIGNATURE_CONTEXT + the exact bytes of bundle.json
    manifest.json    the artifact's manifest (edge.manifest)
    tokenizer.json
    model.onnx

``bundle.sig`` is made with the channel's targets key, so a bundle copied by hand (USB, no
channel) still verifies with that public key. A channel is a TUF repository whose targets
are these bundles (edge/channel_repository.py). docs/edge.md explains the choices.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.exceptions import BundleVerificationError
from edge.manifest import FileEntry

if TYPE_CHECKING:
    from securesystemslib.signer import Key, Signer

BUNDLE_FORMAT_VERSION = 1
SUPPORTED_BUNDLE_FORMATS = (1,)
BUNDLE_SUFFIX = ".pcb"
BUNDLE_JSON = "bundle.json"
BUNDLE_SIG = "bundle.sig"
SIGNATURE_CONTEXT = b"precast-bundle-v1\x00"  # a bundle signature can never verify as anything else
MAX_META_BYTES = 1 << 20  # bundle.json, bundle.sig
MAX_MEMBER_BYTES = 2 << 30  # ONNX protobuf files cannot exceed 2 GiB
MAX_MEMBERS = 32
MAX_BUNDLE_BYTES = 4 << 30  # all members together
MAX_SIGNATURES = 16  # entries in one bundle.sig
# FEXTRA, FNAME and FCOMMENT of a bundle's gzip header (RFC 1952): precast writes none of
# them, so anything beyond a small field is hostile (a 20 MB file name costs seconds of CPU
# to the stdlib's byte-at-a-time scan); refused before any decompression.
MAX_GZIP_HEADER_FIELD_BYTES = 1024
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")


def is_plain_name(name: str) -> bool:
    """A file name with no directory part, no leading dot, no ``..``: safe to join."""
    return bool(_NAME_RE.match(name)) and ".." not in name


class TrustedKeys(list["Key"]):
    """The keys ``bundle.sig`` is verified with, and how many distinct ones of them must
    have signed it: ``threshold`` (default: all of them). The updater passes the channel's
    targets keys with the targets role's TUF threshold."""

    def __init__(self, keys: Iterable[Key], threshold: int | None = None) -> None:
        super().__init__(keys)
        distinct = len({k.keyid for k in self})
        self.threshold = distinct if threshold is None else threshold
        if distinct == 0 or not 1 <= self.threshold <= distinct:
            from edge.exceptions import SigningKeyError

            raise SigningKeyError(
                f"threshold {self.threshold} needs 1..{distinct} distinct trusted keys; "
                "pass as many public keys as signatures you require"
            )


def required_signatures(keys: Sequence[Key]) -> int:
    """How many distinct trusted keys must have signed: ``keys.threshold`` for
    :class:`TrustedKeys`, else every key given."""
    if isinstance(keys, TrustedKeys):
        return keys.threshold
    return max(1, len({k.keyid for k in keys}))


@dataclass(frozen=True)
class BundleInfo:
    """A verified ``bundle.json``: who made it, when, and the digests of its members."""

    format_version: int
    name: str
    version: str
    created_at: str
    members: dict[str, FileEntry]
    key_id: str
    raw_json: bytes


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def bundle_document(
    name: str, version: str, created_at: str, members: dict[str, FileEntry]
) -> bytes:
    return canonical_json(
        {
            "format_version": BUNDLE_FORMAT_VERSION,
            "name": name,
            "version": version,
            "created_at": created_at,
            "members": {n: {"sha256": e.sha256, "size": e.size} for n, e in members.items()},
        }
    )


def signature_document(signer: Signer | Sequence[Signer], bundle_json: bytes) -> bytes:
    """``bundle.sig``: the channel's targets key(s) over SIGNATURE_CONTEXT + ``bundle.json``.

    One signer: ``{"algorithm", "key_id", "signature"}``; several (a targets threshold above
    1): ``{"algorithm", "signatures": [{"key_id", "signature"}, ...]}``."""
    signers = list(signer) if isinstance(signer, Sequence) else [signer]
    entries = []
    for s in signers:
        sig = s.sign(SIGNATURE_CONTEXT + bundle_json)
        b64 = base64.b64encode(bytes.fromhex(sig.signature)).decode("ascii")
        entries.append({"key_id": sig.keyid, "signature": b64})
    if len(entries) == 1:
        return canonical_json({"algorithm": "ed25519", **entries[0]})
    return canonical_json({"algorithm": "ed25519", "signatures": entries})


def _fail(where: str, what: str, check: str) -> BundleVerificationError:
    return BundleVerificationError(f"{where}: {what}", check=check)


def decode_json(data: bytes, what: str, where: str, check: str) -> dict[str, Any]:
    """A JSON object, or BundleVerificationError naming ``what`` (never a raw RecursionError)."""
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        detail = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise _fail(where, f"{what} is not valid JSON ({detail})", check) from None
    if not isinstance(obj, dict):
        raise _fail(where, f"{what} must be a JSON object", check)
    return obj


def check_format(bundle_json: bytes, where: str) -> dict[str, Any]:
    """Decode ``bundle.json`` and refuse a format version this runtime cannot read."""
    doc = decode_json(bundle_json, BUNDLE_JSON, where, "format")
    fmt = doc.get("format_version")
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt not in SUPPORTED_BUNDLE_FORMATS:
        raise _fail(
            where,
            f"bundle format_version {fmt!r} is not supported by this runtime "
            f"(supported: {list(SUPPORTED_BUNDLE_FORMATS)}); upgrade the edge runtime on this "
            "device or re-bundle with a matching precast",
            "format",
        )
    return doc


def check_signature(bundle_json: bytes, bundle_sig: bytes, keys: Sequence[Key], where: str) -> str:
    """Verify ``bundle.sig`` over ``bundle.json`` with ``keys`` (as many distinct ones as
    :func:`required_signatures` says); return the first verifying key id."""
    return verified_key_ids(bundle_json, bundle_sig, keys, where)[0]


def _signature_entries(bundle_sig: bytes, where: str) -> list[tuple[str, bytes]]:
    doc = decode_json(bundle_sig, BUNDLE_SIG, where, "signature")
    if doc.get("algorithm") != "ed25519":
        raise _fail(
            where, f"signature algorithm {doc.get('algorithm')!r} is not ed25519", "signature"
        )
    raw = doc["signatures"] if "signatures" in doc else [doc]
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_SIGNATURES:
        raise _fail(where, f"bundle.sig must hold 1..{MAX_SIGNATURES} signatures", "signature")
    entries = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise _fail(where, "bundle.sig holds a signature that is not an object", "signature")
        try:
            sig = base64.b64decode(str(entry.get("signature", "")), validate=True)
        except (binascii.Error, ValueError):
            raise _fail(where, "bundle.sig holds no base64 signature", "signature") from None
        entries.append((str(entry.get("key_id")), sig))
    return entries


def verified_key_ids(
    bundle_json: bytes, bundle_sig: bytes, keys: Sequence[Key], where: str
) -> list[str]:
    """The distinct trusted keys whose signature in ``bundle.sig`` verifies ``bundle.json``;
    BundleVerificationError(check="signature") unless they reach
    :func:`required_signatures` (a targets threshold applies to bundle.sig as to TUF)."""
    from securesystemslib.exceptions import UnverifiedSignatureError, VerificationError
    from securesystemslib.signer import Signature

    entries = _signature_entries(bundle_sig, where)
    need = required_signatures(keys)
    trusted = {k.keyid: k for k in keys}
    valid: list[str] = []
    altered = False
    for signer, sig in entries:
        key = trusted.get(signer)
        if key is None or signer in valid:
            continue
        try:
            key.verify_signature(Signature(signer, sig.hex()), SIGNATURE_CONTEXT + bundle_json)
        except (UnverifiedSignatureError, VerificationError):
            altered = True
            continue
        valid.append(signer)
    if len(valid) >= need:
        return valid
    if altered:
        raise _fail(
            where, "signature does not verify: the bundle was altered after signing", "signature"
        )
    if not valid:
        raise _fail(
            where,
            f"signature does not verify: it was signed by key "
            f"{', '.join(s[:16] for s, _ in entries)}, but you trust "
            f"{[k.keyid[:16] for k in keys]}; pass the public key that matches the signing key",
            "signature",
        )
    raise _fail(
        where,
        f"bundle.sig carries valid signatures by {len(valid)} of the trusted keys "
        f"({[v[:16] for v in valid]}), but {need} are required (threshold); sign the "
        "bundle with every targets key (`precast bundle` does) or lower threshold=",
        "signature",
    )


def parse_bundle_json(doc: dict[str, Any], raw: bytes, key_id: str, where: str) -> BundleInfo:
    """Typed view of a format-checked, signature-verified ``bundle.json``."""
    for key in ("name", "version", "created_at"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            raise _fail(where, f"bundle.json has no {key!r} string", "format")
    members_raw = doc.get("members")
    if not isinstance(members_raw, dict) or not members_raw or len(members_raw) > MAX_MEMBERS:
        raise _fail(where, f"bundle.json 'members' must list 1..{MAX_MEMBERS} files", "format")
    members: dict[str, FileEntry] = {}
    for name, entry in members_raw.items():
        if not is_plain_name(name) or name in (BUNDLE_JSON, BUNDLE_SIG):
            raise _fail(where, f"bundle.json lists an unsafe member name {name!r}", "format")
        ok = isinstance(entry, dict) and isinstance(entry.get("sha256"), str)
        size = entry.get("size") if isinstance(entry, dict) else None
        if not ok or not _HEX64_RE.match(entry["sha256"]) or type(size) is not int:
            raise _fail(where, f"bundle.json members[{name!r}] needs sha256 and size", "format")
        if not 0 <= size <= MAX_MEMBER_BYTES:
            raise _fail(
                where, f"member {name} declares {size} bytes (limit {MAX_MEMBER_BYTES})", "format"
            )
        members[name] = FileEntry(sha256=entry["sha256"], size=size)
    total = sum(e.size for e in members.values())
    if total > MAX_BUNDLE_BYTES:
        raise _fail(where, f"members total {total} bytes (limit {MAX_BUNDLE_BYTES})", "format")
    if not is_plain_name(doc["version"]) or not is_plain_name(doc["name"]):
        raise _fail(where, "bundle.json name/version must be plain identifiers", "format")
    return BundleInfo(
        format_version=int(doc["format_version"]),
        name=doc["name"],
        version=doc["version"],
        created_at=doc["created_at"],
        members=members,
        key_id=key_id,
        raw_json=raw,
    )


def verify_metadata(
    bundle_json: bytes, bundle_sig: bytes, keys: Sequence[Key], where: str
) -> BundleInfo:
    """Format version, then signature, then structure of ``bundle.json``."""
    doc = check_format(bundle_json, where)
    key = check_signature(bundle_json, bundle_sig, keys, where)
    return parse_bundle_json(doc, bundle_json, key, where)


def check_directory(directory: Path, info: BundleInfo) -> str | None:
    """Why ``directory`` is not an exact extraction of ``info`` (None if it is)."""
    from edge.verify_stamp import Stamp, is_stamp_name

    expected = {*info.members, BUNDLE_JSON, BUNDLE_SIG}
    try:
        present = {p.name for p in directory.iterdir() if not is_stamp_name(p.name)}
    except OSError as exc:
        return f"unreadable: {exc}"
    if present != expected:
        return f"holds {sorted(present)}, expected {sorted(expected)}"
    stamp = Stamp(directory)  # each file hashed once per install (edge.verify_stamp)
    for name, entry in info.members.items():
        path = directory / name
        if not path.is_file() or path.is_symlink():
            return f"{name} is not a regular file"
        if path.stat().st_size != entry.size:
            return f"{name} has {path.stat().st_size} bytes, bundle says {entry.size}"
        if stamp.sha256(name, entry.sha256) != entry.sha256:
            return f"{name} does not match the bundle's sha256"
    stamp.save()
    return None


def verify_directory(directory: Path, keys: Sequence[Key] | None) -> BundleInfo:
    """Re-verify an extracted bundle on disk: every member against its bundle.json, and the
    signature of bundle.json with ``keys`` (None: integrity only, for an install whose
    authenticity the channel's TUF metadata established when it was installed)."""
    where = str(directory)
    try:
        bundle_json = (directory / BUNDLE_JSON).read_bytes()
        bundle_sig = (directory / BUNDLE_SIG).read_bytes()
    except OSError as exc:
        raise _fail(where, f"not an extracted bundle ({exc})", "archive") from None
    if keys is None:
        info = parse_bundle_json(check_format(bundle_json, where), bundle_json, "", where)
    else:
        info = verify_metadata(bundle_json, bundle_sig, keys, where)
    problem = check_directory(directory, info)
    if problem:
        raise _fail(where, f"{problem}; the installed files were altered", "hash")
    return info

"""Open a signed edge bundle: verify it while streaming, unpack it safely and atomically.

Checks, in order, each raising :class:`BundleVerificationError` with ``check`` set:

* ``archive``   not a gzip/tar bundle, truncated, a member that is not a regular file
                (symlink, hard link, directory, device), an unsafe name (absolute, ``..``,
                a directory part), an unexpected, duplicate or missing member
* ``format``    ``bundle.json`` unreadable or its ``format_version`` unsupported
* ``signature`` no public key, or ``bundle.sig`` does not verify ``bundle.json`` with it
* ``hash``      a member's bytes do not match the sha256/size ``bundle.json`` records
* ``schema``    ``manifest.json`` fails :func:`edge.manifest.parse_manifest`, or disagrees
                with ``bundle.json`` (name, version, file digests)

``bundle.json`` and ``bundle.sig`` come first in the archive, so the signature is checked
before a single large byte is written. Members go into a temporary directory next to the
destination, are hashed as they stream, fsynced, and only then renamed into place.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import secrets
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

from edge import signing
from edge.bundle_format import (
    BUNDLE_JSON,
    BUNDLE_SIG,
    BUNDLE_SUFFIX,
    MAX_GZIP_HEADER_FIELD_BYTES,
    MAX_META_BYTES,
    BundleInfo,
    TrustedKeys,
    check_directory,
    check_format,
    check_signature,
    is_plain_name,
    parse_bundle_json,
)
from edge.durable_fs import fsync_dir, fsync_tree
from edge.environment import PRECAST_PUBLIC_KEY
from edge.exceptions import ArtifactError, BundleVerificationError
from edge.manifest import MANIFEST_NAME, FileEntry, read_manifest

if TYPE_CHECKING:
    from typing import TypeAlias

    from securesystemslib.signer import Key

    PublicKeys: TypeAlias = str | bytes | Path | Key | Sequence[str | bytes | Path | Key]

ENV_PUBLIC_KEY = PRECAST_PUBLIC_KEY.name
_CHUNK = 1 << 20
_ARCHIVE_ERRORS = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)


def require_public_key(value: PublicKeys | None, threshold: int | None = None) -> TrustedKeys:
    """The keys to verify with: the argument, else ``$PRECAST_PUBLIC_KEY``; never optional.
    ``threshold``: how many distinct ones must have signed bundle.sig (default: all)."""
    if value is None:
        value = os.environ.get(ENV_PUBLIC_KEY) or None
    if value is None:
        raise BundleVerificationError(
            "a bundle is verified with its channel's targets public key, and none was given: "
            "pass public_key=<path to targets.pub | its base64 text | 32 raw bytes | a list> "
            f"(or set {ENV_PUBLIC_KEY}). `precast keys` prints the keys.",
            check="signature",
        )
    keys = signing.load_public_keys(list(value) if isinstance(value, list | tuple) else value)
    return TrustedKeys(keys, threshold)


class _BoundedTarInfo(tarfile.TarInfo):
    """Refuses pax and GNU long-name/long-link headers before tarfile reads their payload.

    tarfile reads such a header's whole declared size into memory to parse it; a hostile
    bundle can declare hundreds of MB there, ahead of any signature. precast writes plain
    ustar headers only, so any extension header is refused outright.
    """

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _EXTENSION_TYPES:
            raise BundleVerificationError(
                f"{tarfile_.name!s}: tar extension header (pax/GNU long name, "
                f"{self.size} bytes declared) refused; precast bundles use plain ustar headers",
                check="archive",
            )
        member: tarfile.TarInfo = super()._proc_member(tarfile_)  # type: ignore[misc]
        return member  # (a private tarfile hook: the one place it reads a header's payload)


_EXTENSION_TYPES = frozenset(
    {
        tarfile.XHDTYPE,
        tarfile.XGLTYPE,
        tarfile.SOLARIS_XHDTYPE,
        tarfile.GNUTYPE_LONGNAME,
        tarfile.GNUTYPE_LONGLINK,
        tarfile.GNUTYPE_SPARSE,
    }
)


def default_extract_dir(path: Path) -> Path:
    name = path.name.removesuffix(BUNDLE_SUFFIX)
    return path.parent / (name if name != path.name else f"{name}.d")


def open_bundle(
    path: str | Path,
    *,
    public_key: PublicKeys | None = None,
    extract_to: str | Path | None = None,
    threshold: int | None = None,
) -> Path:
    """Verify the bundle at ``path`` and return a directory holding its artifact.

    The artifact goes to ``extract_to`` (default: next to the bundle, named after it). An
    existing extraction of the same bundle whose files still match is reused as is.
    ``threshold``: distinct keys of ``public_key`` that must have signed (default: all).
    """
    bundle = Path(path)
    dest = Path(extract_to) if extract_to is not None else default_extract_dir(bundle)
    given = public_key if public_key is not None else os.environ.get(ENV_PUBLIC_KEY) or None
    raw = signing.raw_public_keys(given) if given is not None else None
    single = raw is not None and (threshold or len(set(raw))) == 1
    if raw and single and _verified_before(bundle, dest, raw):
        return dest  # (a stamp vouches for one key: a threshold above 1 is checked again)
    public = require_public_key(public_key, threshold)
    with _BundleStream(bundle) as stream:  # format and signature: the first two members
        info, verified_sig = stream.read_metadata(public)
    if not _is_extraction_of(dest, info):
        extract_bundle(bundle, public, dest)
    _stamp_signature(dest, info, verified_sig, public)
    return dest


def _verified_before(bundle: Path, dest: Path, raw_keys: list[bytes]) -> bool:
    """Whether ``dest`` is an extraction of this very bundle whose signature was verified
    under one of these keys (:mod:`edge.verify_stamp`) and whose files are unchanged: the
    same bytes under the same key verify the same way, so the check is not repeated."""
    from edge.verify_stamp import Stamp

    stamp = Stamp(dest)
    if not stamp.signatures:
        return False
    try:
        with _BundleStream(bundle) as stream:
            bundle_json, bundle_sig = stream.read_small(BUNDLE_JSON), stream.read_small(BUNDLE_SIG)
        same = (dest / BUNDLE_JSON).read_bytes() == bundle_json
        same = same and (dest / BUNDLE_SIG).read_bytes() == bundle_sig
    except (OSError, ArtifactError):
        return False
    if not same or not any(stamp.signature_known(bundle_json, bundle_sig, k) for k in raw_keys):
        return False
    info = parse_bundle_json(check_format(bundle_json, str(bundle)), bundle_json, "", str(bundle))
    return check_directory(dest, info) is None


def _stamp_signature(
    dest: Path, info: BundleInfo, verified_sig: bytes, public: Sequence[Key]
) -> None:
    """Record that ``dest``'s bundle.json and bundle.sig verified under the key that signed
    them (only when they are the very bytes just verified)."""
    from edge.verify_stamp import Stamp

    key = next((k for k in public if k.keyid == info.key_id), None)
    try:
        same = (dest / BUNDLE_SIG).read_bytes() == verified_sig
    except OSError:
        return
    if key is None or not same:
        return
    stamp = Stamp(dest)
    stamp.record_signature(info.raw_json, verified_sig, signing.key_bytes(key))  # type: ignore[arg-type]
    stamp.save()


def extract_bundle(path: Path, public: Sequence[Key], dest: Path) -> Path:
    """Unpack and fully verify ``path`` into ``dest`` (created by one atomic rename)."""
    _refuse_foreign(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    except OSError as exc:
        raise ArtifactError(
            f"cannot unpack into {dest.parent} ({exc}); pass extract_to=<a writable directory>"
        ) from None
    try:
        info = _unpack(path, public, tmp)
        _check_manifest(tmp, info, str(path))
        tmp.chmod(0o755)  # mkdtemp makes 0700; the model is not a secret, services may differ
        fsync_tree(tmp)
        _install(tmp, dest, info)
    except OSError as exc:
        raise ArtifactError(f"could not unpack {path} into {dest}: {exc}") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _archive(where: str, what: str) -> BundleVerificationError:
    return BundleVerificationError(f"{where}: {what}", check="archive")


_FHCRC, _FEXTRA, _FNAME, _FCOMMENT = 0x02, 0x04, 0x08, 0x10  # RFC 1952 FLG bits


def check_gzip_header(raw: IO[bytes], where: str) -> None:
    """Refuse a gzip header (RFC 1952) whose FEXTRA, FNAME or FCOMMENT field exceeds
    MAX_GZIP_HEADER_FIELD_BYTES, before any decompression: reads at most that many bytes
    (+1) per field, where the stdlib would scan a 20 MB name one byte at a time."""
    limit = MAX_GZIP_HEADER_FIELD_BYTES
    head = raw.read(10)
    if len(head) < 10 or head[2] != 8 or head[3] & 0xE0:
        raise _archive(where, "not a precast bundle: a truncated or non-deflate gzip header")
    flags = head[3]
    if flags & _FEXTRA:
        size = raw.read(2)
        xlen = int.from_bytes(size, "little") if len(size) == 2 else -1
        if not 0 <= xlen <= limit:
            raise _archive(where, f"gzip header FEXTRA field of {xlen} bytes (limit {limit})")
        raw.read(xlen)
    for flag, field in ((_FNAME, "FNAME (file name)"), (_FCOMMENT, "FCOMMENT (comment)")):
        if flags & flag:
            data = raw.read(limit + 1)
            if b"\0" not in data:
                raise _archive(
                    where, f"gzip header {field} field longer than {limit} bytes; refused"
                )
            raw.seek(data.index(b"\0") + 1 - len(data), os.SEEK_CUR)  # just past the NUL


class _BundleStream:
    """One sequential pass over a bundle archive (gzip or plain tar, no seeking)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)

    def __enter__(self) -> _BundleStream:
        try:
            self.raw: IO[bytes] = open(self.path, "rb")
        except FileNotFoundError:
            raise ArtifactError(f"bundle {self.path} does not exist") from None
        magic = self.raw.read(2)
        self.raw.seek(0)
        if magic == b"\x1f\x8b":
            try:
                check_gzip_header(self.raw, self.where)
            except BundleVerificationError:
                self.raw.close()
                raise
            self.raw.seek(0)
        try:
            self.tar = tarfile.open(
                fileobj=self.raw,
                mode="r|gz" if magic == b"\x1f\x8b" else "r|",
                tarinfo=_BoundedTarInfo,
            )
        except _ARCHIVE_ERRORS as exc:
            self.raw.close()
            raise _archive(self.where, f"not a precast bundle (gzip/tar): {exc}") from None
        except BundleVerificationError:
            self.raw.close()
            raise
        self.members = iter(self.tar)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.tar.close()
        except _ARCHIVE_ERRORS:  # pragma: no cover - closing a half-read stream
            pass
        self.raw.close()

    def next_member(self) -> tarfile.TarInfo | None:
        try:
            return next(self.members, None)
        except _ARCHIVE_ERRORS as exc:
            raise _archive(self.where, f"archive is truncated or corrupt ({exc})") from None

    def read_small(self, name: str) -> bytes:
        member = self.next_member()
        if member is None or member.name != name:
            found = "nothing" if member is None else repr(member.name)
            raise _archive(self.where, f"expected {name} next, found {found}; not a precast bundle")
        if not member.isreg() or member.size > MAX_META_BYTES:
            limit = MAX_META_BYTES
            raise _archive(self.where, f"{name} must be a regular file of <= {limit} bytes")
        try:
            fh = self.tar.extractfile(member)
            data = fh.read() if fh is not None else b""
        except _ARCHIVE_ERRORS as exc:
            raise _archive(self.where, f"archive is truncated or corrupt ({exc})") from None
        if len(data) != member.size:
            raise _archive(self.where, f"{name} is truncated")
        return data

    def read_metadata(self, public: Sequence[Key]) -> tuple[BundleInfo, bytes]:
        """bundle.json (format checked first), then bundle.sig (verified), then structure."""
        bundle_json = self.read_small(BUNDLE_JSON)
        doc = check_format(bundle_json, self.where)
        bundle_sig = self.read_small(BUNDLE_SIG)
        key = check_signature(bundle_json, bundle_sig, public, self.where)
        return parse_bundle_json(doc, bundle_json, key, self.where), bundle_sig

    def check_member(self, member: tarfile.TarInfo, info: BundleInfo, seen: set[str]) -> str:
        name = member.name
        if not is_plain_name(name):
            raise _archive(self.where, f"member {name!r} has an unsafe path; refusing to unpack")
        if not member.isreg():
            kind = "symlink" if member.issym() else "link" if member.islnk() else "non-file"
            raise _archive(self.where, f"member {name!r} is a {kind}; only regular files allowed")
        if name not in info.members or name in seen:
            what = "duplicate" if name in seen else "unexpected"
            raise _archive(self.where, f"{what} member {name!r} (not in bundle.json)")
        expected = info.members[name].size
        if member.size != expected:
            raise BundleVerificationError(
                f"{self.where}: member {name} has {member.size} bytes, bundle.json says "
                f"{expected}; the bundle was altered",
                check="hash",
            )
        return name

    def copy_member(self, member: tarfile.TarInfo, entry: FileEntry, target: Path) -> None:
        digest, written = hashlib.sha256(), 0
        try:
            src = self.tar.extractfile(member)
            if src is None:  # pragma: no cover - isreg() was checked
                raise _archive(self.where, f"member {member.name} has no data")
            with open(target, "xb") as out:
                while chunk := src.read(min(_CHUNK, entry.size - written + 1)):
                    written += len(chunk)
                    if written > entry.size:
                        raise _archive(self.where, f"member {member.name} is longer than declared")
                    digest.update(chunk)
                    out.write(chunk)
        except _ARCHIVE_ERRORS as exc:
            raise _archive(self.where, f"archive is truncated or corrupt ({exc})") from None
        if written != entry.size:
            raise _archive(self.where, f"member {member.name} is truncated")
        if digest.hexdigest() != entry.sha256:
            raise BundleVerificationError(
                f"{self.where}: member {member.name} does not match the sha256 in the signed "
                "bundle.json; the bundle was altered or corrupted. Re-download it.",
                check="hash",
            )


def read_bundle_info(path: Path, public: Sequence[Key]) -> BundleInfo:
    """Verify format and signature from the first two members only (cheap)."""
    with _BundleStream(path) as stream:
        info, _ = stream.read_metadata(public)
    return info


def _unpack(path: Path, public: Sequence[Key], tmp: Path) -> BundleInfo:
    with _BundleStream(path) as stream:
        info, bundle_sig = stream.read_metadata(public)
        seen: set[str] = set()
        while (member := stream.next_member()) is not None:
            name = stream.check_member(member, info, seen)
            stream.copy_member(member, info.members[name], tmp / name)
            seen.add(name)
    missing = sorted(set(info.members) - seen)
    if missing:
        what = f"archive is truncated or incomplete: missing {', '.join(missing)}"
        raise _archive(str(path), what)
    (tmp / BUNDLE_JSON).write_bytes(info.raw_json)
    (tmp / BUNDLE_SIG).write_bytes(bundle_sig)
    return info


def _schema(where: str, what: str) -> BundleVerificationError:
    return BundleVerificationError(f"{where}: {what}", check="schema")


def _check_manifest(directory: Path, info: BundleInfo, where: str) -> None:
    """manifest.json must parse and describe exactly the files the signed bundle.json lists."""
    if MANIFEST_NAME not in info.members:
        raise _schema(where, f"the bundle holds no {MANIFEST_NAME}")
    try:
        manifest = read_manifest(directory)
    except ArtifactError as exc:
        raise _schema(where, f"manifest.json is invalid: {exc}") from None
    if (manifest.name, manifest.version) != (info.name, info.version):
        raise _schema(
            where,
            f"manifest says {manifest.name} {manifest.version} but bundle.json says "
            f"{info.name} {info.version}",
        )
    for name, entry in manifest.files.items():
        member = info.members.get(name)
        if member is None or member.sha256 != entry.sha256:
            raise _schema(where, f"manifest file {name} is missing or differs from bundle.json")
    variants = {v.file: v.sha256 for v in manifest.variants if v.file not in manifest.files}
    for name, sha in variants.items():  # a variant a bundle carries must be the listed file
        member = info.members.get(name)
        if member is not None and member.sha256 != sha:
            raise _schema(where, f"variant file {name} differs from the manifest's")
    extra = set(info.members) - set(manifest.files) - set(variants) - {MANIFEST_NAME}
    if extra:
        raise _schema(where, f"members not described by the manifest: {sorted(extra)}")


def _is_extraction_of(dest: Path, info: BundleInfo) -> bool:
    try:
        same = (dest / BUNDLE_JSON).read_bytes() == info.raw_json
    except OSError:
        return False
    return same and check_directory(dest, info) is None


def _refuse_foreign(dest: Path) -> None:
    """Never replace a directory that is not an extraction of some bundle."""
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise ArtifactError(f"{dest} exists and is not a directory; pass another extract_to")
    if dest.is_dir() and any(dest.iterdir()) and not (dest / BUNDLE_JSON).is_file():
        raise ArtifactError(
            f"{dest} exists and is not an unpacked bundle; refusing to replace it. "
            "Pass an empty or new directory as extract_to."
        )


def _install(tmp: Path, dest: Path, info: BundleInfo) -> None:
    try:
        os.rename(tmp, dest)  # atomic; also replaces an empty directory
    except OSError:
        if _is_extraction_of(dest, info):  # a concurrent open of the same bundle won
            return
        _refuse_foreign(dest)
        aside = dest.with_name(f".{dest.name}.old-{secrets.token_hex(4)}")
        os.rename(dest, aside)
        os.rename(tmp, dest)
        shutil.rmtree(aside, ignore_errors=True)
    fsync_dir(dest.parent)

"""Verify once per install, not once per load: a stamp of the files already hashed.

Loading hashes every file against its manifest (an artifact directory) or its signed
``bundle.json`` (an unpacked bundle). The answer only changes if the file does, so the
first successful check writes ``STAMP_NAME`` in the directory (atomically): for each file,
the sha256 it had and its ``(device, inode, size, mtime_ns, ctime_ns)``. A later load
hashes a file again unless its stat is exactly the stamped one *and* the stamped sha256 is
the one expected now. Any write to the file through the file system (in place, a
replacement, a copy elsewhere, a restored mtime) changes its ctime or inode, so it is
hashed again and refused if altered. A file changed less than ``SETTLE_NS`` before it was
hashed is not stamped (coarse file-system clocks could hide a same-tick change:
"racily clean", as git calls it). A directory that cannot be written is hashed on every
load, as before.

What it does not cover is the stated threat model's out-of-scope case: someone with
write access to this disk could forge the stamp, as they could replace the trusted root or
the manifest of an unsigned artifact directory; and silent media corruption under an
unchanged inode and ctime. The bundle's signature is still checked by every
``edge.load(bundle)`` unless the stamp records that these exact ``bundle.json`` and
``bundle.sig`` bytes verified under the very public key given now (:func:`signature_known`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from edge.durable_fs import write_atomic
from edge.file_hash import sha256_file

STAMP_NAME = ".precast-verified.json"
SETTLE_NS = 2_000_000_000  # a file younger than this when hashed is not stamped
_FORMAT = 1


def is_stamp_name(name: str) -> bool:
    """The stamp or its temporary file: not part of an artifact or an extraction."""
    return name == STAMP_NAME or name.startswith(f".{STAMP_NAME}.tmp-")


def _key(st: os.stat_result) -> list[int]:
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


class Stamp:
    """The stamp of one directory: read once, checked per file, saved if it grew."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files: dict[str, dict[str, Any]] = {}
        self.signatures: list[dict[str, str]] = []
        self._dirty = False
        try:
            doc = json.loads((directory / STAMP_NAME).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            return
        if isinstance(doc, dict) and doc.get("format") == _FORMAT:
            files, sigs = doc.get("files"), doc.get("signatures")
            self.files = files if isinstance(files, dict) else {}
            self.signatures = (
                [s for s in sigs if isinstance(s, dict)] if isinstance(sigs, list) else []
            )

    def sha256(self, name: str, expected: str) -> str:
        """The file's sha256: ``expected`` if the stamp vouches for it unchanged, else
        hashed now (and stamped if it matches and has settled)."""
        path = self.directory / name
        before = path.stat()
        entry = self.files.get(name)
        if (
            isinstance(entry, dict)
            and entry.get("sha256") == expected
            and entry.get("stat") == _key(before)
        ):
            return expected
        actual = sha256_file(path)
        after = path.stat()
        settled = time.time_ns() - before.st_ctime_ns >= SETTLE_NS
        if actual == expected and _key(before) == _key(after) and settled:
            self.files[name] = {"sha256": actual, "stat": _key(after)}
            self._dirty = True
        elif self.files.pop(name, None) is not None:  # stale: vouches for nothing now
            self._dirty = True
        return actual

    def signature_known(self, bundle_json: bytes, bundle_sig: bytes, public_key: bytes) -> bool:
        """Whether these exact bytes were verified under this raw public key before."""
        return self._signature(bundle_json, bundle_sig, public_key) in self.signatures

    def record_signature(self, bundle_json: bytes, bundle_sig: bytes, public_key: bytes) -> None:
        record = self._signature(bundle_json, bundle_sig, public_key)
        if record not in self.signatures:
            self.signatures = [record]  # one bundle per extraction: the latest verified
            self._dirty = True

    @staticmethod
    def _signature(bundle_json: bytes, bundle_sig: bytes, public_key: bytes) -> dict[str, str]:
        return {
            "bundle_json": hashlib.sha256(bundle_json).hexdigest(),
            "bundle_sig": hashlib.sha256(bundle_sig).hexdigest(),
            "public_key": public_key.hex(),
        }

    def save(self) -> None:
        """Write the stamp if it grew; a read-only directory just keeps hashing."""
        if not self._dirty:
            return
        doc = {"format": _FORMAT, "files": self.files, "signatures": self.signatures}
        try:
            write_atomic(self.directory / STAMP_NAME, json.dumps(doc, sort_keys=True).encode())
        except OSError:
            return
        self._dirty = False
